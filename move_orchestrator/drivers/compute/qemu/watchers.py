"""Starting the host-side watchers from the driver, telling whether one
lives, and reading what the switch-over watcher measured.

The watchers (switchover.py on a migration's source, arrival.py on its
destination) run as their own files in bare interpreters, detached, so that
they outlive the process that started them; what starts and reaps them
lives here, on the driver's side, where the modules they do not need
(subprocess, threading) cost the watchers' start nothing.

An interpreter's start is tens of ms of CPU, in the migration's window or
right after it, on the cores the guest's QEMUs and the move's next steps
need. So a process keeps one spare per watcher kind (spare.py: started
once, its watcher imported), which forks each watcher of that kind: a
fraction of a ms of CPU, but 1.5-1.8 ms to the answer on a 2-core host
whose QEMU starts, so the caller goes on (readies the migration) and reads
the answer when it needs the watcher. The spare starts when the first
watcher of its kind that this process started directly has ended (after
that migration's window), and stays. No spare yet, or it died: the
watcher is started directly, as ever, and a new spare follows it.
"""

import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time

from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import spare as spare_mod
from move_orchestrator.drivers.compute.qemu import switchover
from move_orchestrator.drivers.compute.qemu import watcher_io

# Seconds a spare may take to fork a watcher before it is given up on (and
# the watcher started directly): a fork is a fraction of a ms, the first
# request also waits for the spare's interpreter to start.
FORK_TIMEOUT = 5.0


def _popen(script, args, log_path):
    """A watcher running ``script`` with args, detached; its log appended
    to log_path, its stdout a pipe it says "listening" on."""
    with open(log_path, 'a') as log:
        return subprocess.Popen(
            [sys.executable, '-I', '-S', os.path.abspath(script)] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, close_fds=True)


class _Forked:
    """A watcher forked by a spare: its pid, and its stdout's read end
    (what ``listening`` reads); the spare, not this process, reaps it."""

    def __init__(self, pid, fd):
        self.pid = pid
        self.stdout = os.fdopen(fd, 'rb')


class _Asked:
    """A watcher asked of a spare, its answer (pid, stdout) not read yet:
    the caller readies the migration while the spare forks (a ms and more
    on a loaded host). Read by ``listening`` (or a look at ``pid``); a
    spare that cannot answer then is replaced by a watcher started now."""

    def __init__(self, spare, script, args, log_path):
        self._spare = spare
        self._start = (script, args, log_path)
        self.watcher = None     # the spare's _Forked, or a direct start

    def resolve(self):
        """The watcher: the spare's answer, else one started directly."""
        if self.watcher is None:
            try:
                self._spare.answer(self)
            except OSError:     # it died, or hangs: replaced
                SPARES.drop(self._start[0], self._spare)
                self.watcher = _popen(*self._start)
                self.watcher.watcher_script = self._start[0]
        return self.watcher

    @property
    def pid(self):
        return self.resolve().pid


class _Spare:
    """One spare (spare.py): its process and this process's end of its
    socket. It answers in the order asked, one thread at a time reading."""

    def __init__(self, script):
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, '-I', '-S', os.path.abspath(spare_mod.__file__),
                 os.path.abspath(script)],
                stdin=theirs, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(FORK_TIMEOUT)
        self.sock = ours
        self.lock = threading.Lock()
        self._waiting = collections.deque()     # asked, answer not read

    def ask(self, script, args, log_path):
        """Ask for a watcher of script; its answer is read when needed."""
        line = json.dumps({'log': log_path, 'argv': args}).encode() + b'\n'
        asked = _Asked(self, script, args, log_path)
        with self.lock:
            self.sock.sendall(line)
            self._waiting.append(asked)
        return asked

    def answer(self, asked):
        """Read the answers, in the order asked, until asked's (its
        ``watcher``). OSError if the spare cannot answer (then nor can it
        later: the watchers asked and not answered start directly)."""
        with self.lock:
            while asked.watcher is None:
                if not self._waiting:
                    raise ConnectionResetError('the spare gave up answering')
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 64, 1)
                if not data or not fds:
                    for fd in fds:
                        os.close(fd)
                    self._waiting.clear()
                    raise ConnectionResetError('the spare ended')
                self._waiting.popleft().watcher = _Forked(int(data), fds[0])

    def close(self):
        """Ends it (EOF); its watchers run on."""
        self.sock.close()


class _Spares:
    """This process's spares, one per watcher script at most."""

    def __init__(self):
        self._lock = threading.Lock()
        self._spares = {}   # script: its _Spare, None while one starts

    def start(self, script, args, log_path):
        """A watcher of script for args: asked of the spare, else started
        now (no spare yet, or it died: the next starts after this one)."""
        with self._lock:
            spare = self._spares.get(script)
        if spare is not None:
            try:
                return spare.ask(script, args, log_path)
            except OSError:     # it died: replaced
                self.drop(script, spare)
        proc = _popen(script, args, log_path)
        proc.watcher_script = script
        return proc

    def drop(self, script, spare):
        with self._lock:
            if self._spares.get(script) is spare:
                del self._spares[script]
        spare.close()
        if spare.proc.poll() is None:
            spare.proc.kill()
        spare.proc.wait()

    def refill(self, script):
        """Start a spare of script unless there is one (or one starting)."""
        with self._lock:
            if script in self._spares:
                return
            self._spares[script] = None
        try:
            spare = _Spare(script)
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
            return {s: p.proc.pid for s, p in self._spares.items()
                    if p is not None}

    def forget(self):
        """In a forked child: the parent's spares are not its own, and
        holding their sockets would keep them from seeing the parent end."""
        self._lock = threading.Lock()
        spares, self._spares = self._spares, {}
        for spare in spares.values():
            if spare is not None:
                spare.sock.close()
                spare.proc.returncode = 0   # not this process's child to reap


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
    if isinstance(proc, _Asked):
        proc = proc.resolve()
    if proc.stdout.closed:
        return proc.pid
    with proc.stdout:
        proc.stdout.readline()      # "listening", or EOF if it ended
    if isinstance(proc, subprocess.Popen):
        # Reaped here while this process lives; adopted by init once it dies.
        threading.Thread(target=_reap, args=(proc,), daemon=True).start()
    return proc.pid


def _reap(proc):
    """Wait for a watcher's end, then start the spare of its kind if there
    is none: after this migration's window, and once per process (a spare
    stays), unless it dies."""
    proc.wait()
    SPARES.refill(proc.watcher_script)


def spawn_switchover(source, dest, record_path, migration_id, timeout):
    """start_switchover and listening: the pid of a watcher that listens."""
    return listening(start_switchover(source, dest, record_path, migration_id,
                                      timeout))


def _logs_to(pid, real_path):
    """Whether process pid's stderr is real_path (without symbolic links,
    as /proc names it): a watcher's log names what it watches (a spare's
    command line, spare.py, does not)."""
    try:
        return os.readlink('/proc/%d/fd/2' % pid) == real_path
    except (OSError, TypeError):
        return False


def alive(pid, record_path):
    """Whether ``pid`` is a live switch-over watcher of this record."""
    return _logs_to(pid, os.path.realpath(switchover.log_path(record_path)))


def _logging_to(path):
    """The pid of a live process whose stderr is path, or None: a look
    through every process, for a re-run after a crash only. A watcher
    found keeps its monitor: one more could not connect until it ends."""
    real_path = os.path.realpath(path)
    for pid in filter(str.isdigit, os.listdir('/proc')):
        if _logs_to(int(pid), real_path):
            return int(pid)
    return None


def arrival_watcher(dom):
    """The pid of a live arrival watcher of dom, or None."""
    return _logging_to(dom.path('arrival.log'))


def switchover_watcher(record_path):
    """The pid of a live switch-over watcher of the record, or None."""
    return _logging_to(switchover.log_path(record_path))


def figures(record_path, rec, wait=2.0):
    """The switch-over watcher's figures of this migration ({} if it wrote
    none): it writes them a moment after the destination resumed."""
    deadline = time.monotonic() + wait
    while True:
        found = watcher_io.read_json(switchover.figures_path(record_path)) or {}
        if found.pop('id', None) == rec.get('id') and found:
            return found
        if time.monotonic() > deadline or not alive(rec.get('watcher'),
                                                    record_path):
            return {}
        time.sleep(0.002)
