"""Starting the host-side watchers from the driver, and telling whether
one lives.

The watchers (switchover.py on a migration's source, arrival.py on its
destination) run as their own files in bare interpreters, detached, so that
they outlive the process that started them; what starts and reaps them
lives here, on the driver's side, where the modules they do not need
(subprocess, threading) cost the watchers' start nothing.

An interpreter's start is tens of ms of CPU in the migration's window, so
a process keeps one spare per watcher kind (spare.py: started, its watcher
imported, waiting for its arguments), handed the next migration; the next
spare starts when that watcher ended, after the window. No spare (the
first watcher of a process, two at once, a spare killed): started as ever.
"""

import json
import os
import subprocess
import sys
import threading

from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import spare as spare_mod
from move_orchestrator.drivers.compute.qemu import switchover


def _popen(script, args, log_path):
    """A watcher running ``script`` with args, detached; its log appended
    to log_path, its stdout a pipe it says "listening" on."""
    with open(log_path, 'a') as log:
        return subprocess.Popen(
            [sys.executable, '-I', '-S', os.path.abspath(script)] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, close_fds=True)


class _Spares:
    """This process's spare watchers, one per script at most."""

    def __init__(self):
        self._lock = threading.Lock()
        self._spares = {}   # script: its spare's Popen, None while one starts

    def start(self, script, args, log_path):
        """A watcher of script for args: the spare, else started now."""
        with self._lock:
            spare = self._spares.pop(script, None)
        line = json.dumps({'log': log_path, 'argv': args}).encode() + b'\n'
        proc = None
        if spare is not None and spare.poll() is None:
            try:
                with spare.stdin:
                    spare.stdin.write(line)
                proc = spare
            except OSError:         # it died meanwhile
                pass
        if proc is None:
            proc = _popen(script, args, log_path)
        proc.watcher_script = script
        return proc

    def refill(self, script):
        """Start a spare of script unless there is one (or one starting)."""
        with self._lock:
            if script in self._spares:
                return
            self._spares[script] = None
        try:
            spare = subprocess.Popen(
                [sys.executable, '-I', '-S', os.path.abspath(spare_mod.__file__),
                 os.path.abspath(script)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except OSError:
            spare = None
        with self._lock:
            if spare is None:
                self._spares.pop(script, None)
            else:
                self._spares[script] = spare

    def pids(self):
        """{script: pid} of the spares (for tests and benchmarks)."""
        with self._lock:
            return {s: p.pid for s, p in self._spares.items() if p is not None}

    def forget(self):
        """In a forked child: the parent's spares are not its own, and
        holding their pipes would keep them from seeing the parent end."""
        self._lock = threading.Lock()
        spares, self._spares = self._spares, {}
        for spare in spares.values():
            if spare is not None:
                spare.stdin.close()
                spare.stdout.close()
                spare.returncode = 0    # not this process's child to reap


SPARES = _Spares()
os.register_at_fork(after_in_child=SPARES.forget)


def start_switchover(source, dest, record_path, migration_id, timeout):
    """Start the switch-over watcher of a migration and return its process
    at once: its interpreter starts while the caller readies the migration
    (``listening`` then waits for it). It ends at once unless the record
    of ``migration_id`` is written. ``dest``: the destination's domain,
    None when it is not within reach (it accepted the migration)."""
    return SPARES.start(switchover.__file__,
                        [source.switchover_path, dest.switchover_path if dest else '',
                         record_path, migration_id or '', str(timeout)],
                        switchover.log_path(record_path))


def start_arrival(dom, timeout):
    """Start the arrival watcher of dom (a process.Domain) and return its
    process at once: it waits for dom's QEMU as long as dom's STATE file
    is there, so it can start while that QEMU does."""
    return SPARES.start(arrival.__file__,
                        [dom.switchover_path, dom.dir, str(timeout)],
                        dom.path('arrival.log'))


def listening(proc):
    """The pid of a watcher started here, once it listens (or has given
    up); at once when asked again."""
    if proc.stdout.closed:
        return proc.pid
    with proc.stdout:
        proc.stdout.readline()      # "listening", or EOF if it ended
    # Reaped here while this process lives; adopted by init once it dies.
    threading.Thread(target=_reap, args=(proc,), daemon=True).start()
    return proc.pid


def _reap(proc):
    """Wait for a watcher's end, then start the spare of its kind: the
    next migration's, started after this one's window."""
    proc.wait()
    SPARES.refill(proc.watcher_script)


def spawn_switchover(source, dest, record_path, migration_id, timeout):
    """start_switchover and listening: the pid of a watcher that listens."""
    return listening(start_switchover(source, dest, record_path, migration_id,
                                      timeout))
