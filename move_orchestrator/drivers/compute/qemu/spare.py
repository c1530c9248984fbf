"""A spare watcher: an interpreter started ahead that forks a migration's.

A watcher's interpreter takes tens of ms of CPU to start, on cores the two
QEMUs need, in a migration's window or right after it. So watchers.py keeps
one spare per watcher kind, started once (``python -I -S spare.py
WATCHER``): it imports the watcher (switchover.py or arrival.py), then
serves the process that started it over a socket (its stdin). Each request
is one JSON line, ``{"log": path, "argv": [...]}``; the spare forks, and the
child becomes that watcher, as if started with argv: its own session (it
outlives the process that asked, the point of the switch-over watcher: no
guest is left paused by a dead conductor), its stderr the log, its stdin
/dev/null, its stdout a new pipe whose read end goes back with the child's
pid (SCM_RIGHTS): the watcher says "listening" there, and its end closes it.
A fork costs a fraction of a ms; the spare stays, so nothing restarts after
a migration. It ends when the socket does (EOF: its parent ended or died);
its children run on.

The standard library only: what the watcher imports anyway, plus signal
and traceback (imported once, by the spare).
"""

import json
import os
import signal
import socket
import sys
import traceback


def _reap(signum, frame):
    """Children are waited for (their CPU then counts in this process's
    children's times, as a direct start's did in its parent's)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _become(log, out):
    """The watcher's stderr is its log (appended, as a direct start's), its
    stdout ``out``, its stdin /dev/null: the spare's socket is not its."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(fd, 2)
    os.close(fd)
    os.dup2(out, 1)
    os.close(out)
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def _fork(watcher, handed):
    """The watcher's pid and the read end of its stdout."""
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)
        return pid, r
    code = 1
    try:
        os.close(r)
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _become(handed['log'], w)
        code = watcher.main(handed['argv'])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:      # noqa: B902 - logged; never back in the loop
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code or 0)


def serve(watcher, sock):
    """Fork a watcher per request line until EOF."""
    buf = b''
    while True:
        while b'\n' not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return 0        # its parent ended
            buf += chunk
        line, buf = buf.split(b'\n', 1)
        pid, out = _fork(watcher, json.loads(line))
        try:
            socket.send_fds(sock, [b'%d\n' % pid], [out])
        finally:
            os.close(out)


def main(script):
    # A bare interpreter: the watcher's module is the file beside this one.
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    watcher = __import__(os.path.basename(script)[:-len('.py')])
    signal.signal(signal.SIGCHLD, _reap)
    sock = socket.socket(fileno=0)
    try:
        return serve(watcher, sock)
    except (OSError, ValueError):
        return 0    # its parent is gone, or spoke nonsense: no more watchers


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
