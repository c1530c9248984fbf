"""Starting the host-side watchers from the driver, and telling whether
one lives.

The watchers (switchover.py on a migration's source, arrival.py on its
destination) run as their own files in bare interpreters, detached, so that
they outlive the process that started them; what starts and reaps them
lives here, on the driver's side, where the modules they do not need
(subprocess, threading) cost the watchers' start nothing.
"""

import os
import subprocess
import sys
import threading

from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import switchover


def _popen(script, args, log_path):
    """A watcher running ``script`` with args, detached; its log appended
    to log_path, its stdout a pipe it says "listening" on."""
    with open(log_path, 'a') as log:
        return subprocess.Popen(
            [sys.executable, '-I', '-S', os.path.abspath(script)] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, close_fds=True)


def start_switchover(source, dest, record_path, migration_id, timeout):
    """Start the switch-over watcher of a migration and return its process
    at once: its interpreter starts while the caller readies the migration
    (``listening`` then waits for it). It ends at once unless the record
    of ``migration_id`` is written. ``dest``: the destination's domain,
    None when it is not within reach (it accepted the migration)."""
    return _popen(switchover.__file__,
                  [source.switchover_path, dest.switchover_path if dest else '',
                   record_path, migration_id or '', str(timeout)],
                  record_path[:-len('.json')] + '.switchover.log')


def start_arrival(dom, timeout):
    """Start the arrival watcher of dom (a process.Domain) and return its
    process at once: it waits for dom's QEMU as long as dom's STATE file
    is there, so it can start while that QEMU does."""
    return _popen(arrival.__file__, [dom.switchover_path, dom.dir, str(timeout)],
                  dom.path('arrival.log'))


def listening(proc):
    """The pid of a watcher started here, once it listens (or has given
    up); at once when asked again."""
    if proc.stdout.closed:
        return proc.pid
    with proc.stdout:
        proc.stdout.readline()      # "listening", or EOF if it ended
    # Reaped here while this process lives; adopted by init once it dies.
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc.pid


def spawn_switchover(source, dest, record_path, migration_id, timeout):
    """start_switchover and listening: the pid of a watcher that listens."""
    return listening(start_switchover(source, dest, record_path, migration_id,
                                      timeout))
