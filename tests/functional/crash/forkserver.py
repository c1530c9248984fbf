"""A fork server for the crash tests: one Python with our imports loaded,
which forks a fresh child for every ``move-orchestrator`` command.

A kill point needs two or three processes (the conductor that is killed, the
one that recovers, the audit); at about a second of imports each, the
matrix would spend most of its time importing. The server imports the CLI's
modules once, starts no thread and opens no database; each child is a real
process (its own pid, its own SQLite connections and conductor lock, killed
with a real SIGKILL) that runs ``move_orchestrator.cli.main.main(argv)`` as
``python -m move_orchestrator.cli.main`` would, or a seeding function.

Protocol: one JSON request per line on stdin, one JSON answer per line on
the server's original stdout::

    {"argv": [...] | "call": "module:function", "args": [...],
     "cwd": DIR, "stdout": FILE, "stderr": FILE, "timeout": SECONDS}
    -> {"pid": N, "returncode": RC, "timed_out": BOOL, "seconds": S}

``returncode`` is negative for a signal (-9: killed). A child still running
at its timeout is SIGKILLed and reported ``timed_out``.
"""

import importlib
import json
import os
import select
import signal
import sys
import threading
import time
import traceback

PRELOAD = (
    'move_orchestrator.cli.main', 'move_orchestrator.cli.audit',
    'move_orchestrator.cli.client', 'move_orchestrator.cli.conductor',
    'move_orchestrator.cli.inventory', 'move_orchestrator.cli.moves',
    'move_orchestrator.cli.tasks', 'move_orchestrator.cli.render',
    'move_orchestrator.cmd.manage', 'move_orchestrator.conductor.api',
    'move_orchestrator.conductor.runner', 'move_orchestrator.cloud',
    'move_orchestrator.db.migration', 'move_orchestrator.audit',
    'move_orchestrator.drivers.compute.fake',
    'taskflow.engines.action_engine.engine',
    'alembic.command', 'alembic.runtime.migration',
    'sqlalchemy.dialects.sqlite',
)


def preload():
    for name in PRELOAD:
        importlib.import_module(name)
    # futurist's idle pool workers look for work once a second, and
    # shutdown(wait=True) joins them: every command that ran a move would
    # spend up to a second after its work waiting for them to notice (see
    # the report of the crash tests). Not what is under test here.
    from futurist import _thread
    _thread.ThreadWorker.MAX_IDLE_FOR = float(
        os.environ.get('MO_TEST_CRASH_IDLE_POLL', '0.02'))
    # The command plugins: entry points scanned and their modules imported
    # once here, not in every child.
    from cliff import commandmanager
    commandmanager.CommandManager('move_orchestrator.cli')
    threads = [t for t in threading.enumerate()
               if t is not threading.main_thread()]
    if threads:     # forking a process with threads is not safe
        raise RuntimeError('threads started while importing: %s' % threads)


def _child(request, keep_fds):
    rc = 1
    try:
        for fd in keep_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request['stdout']), (2, request['stderr'])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request.get('cwd') or '.')
        sys.argv = ['move-orchestrator'] + list(request.get('argv') or ())
        if 'call' in request:
            module, _, func = request['call'].partition(':')
            rc = getattr(importlib.import_module(module), func)(
                *request.get('args', ()))
        else:
            from move_orchestrator.cli import main
            rc = main.main(list(request['argv']))
        # As the interpreter does at exit: wait for non-daemon threads.
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        rc = rc or 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (
            0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc if isinstance(rc, int) else 1)


def _wait(pid, timeout):
    """The child's exit code, or None at the timeout."""
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid) if hasattr(os, 'pidfd_open') else None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.005))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def serve():
    # Answers go to a private copy of stdout: a child's output can never
    # end up in the channel.
    answers = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    preload()
    answers.write(json.dumps({'ready': os.getpid()}) + '\n')
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request, [answers.fileno()])
        rc = _wait(pid, request.get('timeout', 120))
        timed_out = rc is None
        if timed_out:
            os.kill(pid, signal.SIGKILL)
            rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        answers.write(json.dumps({
            'pid': pid, 'returncode': rc, 'timed_out': timed_out,
            'seconds': round(time.monotonic() - started, 3)}) + '\n')


if __name__ == '__main__':
    serve()
