"""Helpers of the crash tests: processes, configurations, reading the
outcome from a database file.

Commands run either through a fork server (default: a fork of a Python that
has imported everything, see forkserver.py) or, with MO_TEST_CRASH_EXEC=1,
as ``python -m move_orchestrator.cli.main`` each (slower, same results).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

from move_orchestrator.records import tasks as records
from tests import waiting

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
EXEC = os.environ.get('MO_TEST_CRASH_EXEC', '') not in ('', '0')
TIMEOUT = 90   # no run of a single move may take this long, even loaded

BASE_OPTIONS = {
    'conductor': {'poll_interval': 0.001, 'cleanup_retry_delay': 0.0,
                  'watch_interval': 0.05},
    'fake_driver': {'operation_delay': 0.0},
}


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]), COLUMNS='200')


def write_config(path, db, options=None):
    """A config file for the database file ``db``; options by group."""
    groups = {g: dict(v) for g, v in BASE_OPTIONS.items()}
    for group, values in (options or {}).items():
        groups.setdefault(group, {}).update(values)
    lines = ['[database]', 'connection = sqlite:///%s' % db]
    for group, values in groups.items():
        lines.append('[%s]' % group)
        for name, value in values.items():
            if isinstance(value, (list, tuple)):
                value = ','.join(value)
            lines.append('%s = %s' % (name, value))
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


class Result:
    def __init__(self, returncode, timed_out, stdout_path, stderr_path,
                 seconds, pid):
        self.returncode = returncode
        self.timed_out = timed_out
        self.seconds = seconds
        self.pid = pid
        self._paths = stdout_path, stderr_path

    @property
    def stdout(self):
        with open(self._paths[0]) as f:
            return f.read()

    @property
    def stderr(self):
        with open(self._paths[1]) as f:
            return f.read()

    def __repr__(self):
        return '<rc=%s timed_out=%s %.2fs stderr=%s>' % (
            self.returncode, self.timed_out, self.seconds,
            self.stderr[-2000:])


class ForkServer:
    """One fork server process; one request at a time."""

    def __init__(self):
        self._proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'forkserver.py')],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env(), cwd=ROOT, bufsize=1)
        ready = self._proc.stdout.readline()
        if not ready:
            raise RuntimeError('the fork server did not start')
        self._lock = threading.Lock()

    def run(self, request):
        with self._lock:
            self._proc.stdin.write(json.dumps(request) + '\n')
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        if not answer:
            raise RuntimeError('the fork server died')
        return json.loads(answer)

    def close(self):
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


class Runner:
    """Runs CLI commands (and seeding calls) in fresh processes."""

    def __init__(self, server=None):
        self.server = server

    def _run(self, request, workdir, name):
        out = os.path.join(workdir, '%s.out' % name)
        err = os.path.join(workdir, '%s.err' % name)
        request = dict(request, stdout=out, stderr=err, cwd=workdir)
        request.setdefault('timeout', TIMEOUT)
        if self.server is not None:
            answer = self.server.run(request)
            return Result(answer['returncode'], answer['timed_out'], out,
                          err, answer['seconds'], answer['pid'])
        if 'call' in request:
            module, _, func = request['call'].partition(':')
            cmd = [sys.executable, '-c',
                   'import sys, importlib; sys.exit(getattr('
                   'importlib.import_module(%r), %r)(*sys.argv[1:]))'
                   % (module, func)] + [str(a) for a in request['args']]
        else:
            cmd = [sys.executable, '-m', 'move_orchestrator.cli.main'] + \
                list(request['argv'])
        started = time.monotonic()
        with open(out, 'w') as o, open(err, 'w') as e:
            proc = subprocess.Popen(cmd, stdout=o, stderr=e, cwd=workdir,
                                    env=env(), stdin=subprocess.DEVNULL)
            timed_out = False
            try:
                proc.wait(timeout=request['timeout'])
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                proc.wait()
        return Result(proc.returncode, timed_out, out, err,
                      time.monotonic() - started, proc.pid)

    def cli(self, workdir, name, config, *args, timeout=TIMEOUT):
        return self._run({'argv': ['--config-file', config] + list(args),
                          'timeout': timeout}, workdir, name)

    def call(self, workdir, name, func, *args, timeout=TIMEOUT):
        return self._run({'call': 'tests.functional.crash.seeding:%s' % func,
                          'args': list(args), 'timeout': timeout},
                         workdir, name)


def spawn(workdir, name, config, *args):
    """``python -m move_orchestrator.cli.main --config-file C ARGS`` in
    the background, output to NAME.log; a Popen."""
    with open(os.path.join(workdir, '%s.log' % name), 'w') as out:
        return subprocess.Popen(
            [sys.executable, '-m', 'move_orchestrator.cli.main',
             '--config-file', config] + list(args), stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env())


def log_of(workdir, name):
    with open(os.path.join(workdir, '%s.log' % name)) as f:
        return f.read()


def owned(db):
    """Whether a conductor process holds the database's owner lock."""
    import fasteners
    lock = fasteners.InterProcessLock(db + '.conductor.lock')
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


def wait_for(predicate, timeout=TIMEOUT, what='a condition'):
    return waiting.wait_for(predicate, timeout=timeout, what=what)


def copy_database(template, db):
    """A template database file to a test's own (WAL checkpointed)."""
    shutil.copyfile(template, db)
    for suffix in ('-wal', '-shm'):
        if os.path.exists(template + suffix):
            shutil.copyfile(template + suffix, db + suffix)


# -- reading the outcome ----------------------------------------------------
def _rows(con, sql, *args):
    con.row_factory = sqlite3.Row
    return [dict(r) for r in con.execute(sql, args)]


def _loads(value):
    return json.loads(value) if isinstance(value, str) else value


def read_tasks(db):
    """Every move's task document, as ``task show`` builds it; by id."""
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=60)
    try:
        docs = {}
        for move in _rows(con, 'SELECT * FROM moves'):
            for key in ('request', 'params'):
                move[key] = _loads(move[key])
            move['ponr'] = bool(move['ponr'])
            events = _rows(con, 'SELECT * FROM move_events WHERE move_id = ?'
                           ' ORDER BY id', move['id'])
            for e in events:
                e['detail'], e['error'] = _loads(e['detail']), _loads(
                    e['error'])
            doc = records.build_document(move, events)
            doc['events'] = events      # raw, with their ids
            docs[move['id']] = doc
        return docs
    finally:
        con.close()


def last_event_id(db):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=60)
    try:
        return con.execute('SELECT max(id) FROM move_events').fetchone()[0]
    finally:
        con.close()


def read_instances(db):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=60)
    try:
        return {i['name']: i for i in _rows(con, 'SELECT * FROM instances')}
    finally:
        con.close()
