"""Private PostgreSQL, MariaDB and Redis servers for tests that stop them.

The shared servers on 5432, 3306 and 6379 serve every test run on the machine:
an outage test never stops them. These servers run from a temporary
directory on a free port, owned by the test, and are removed with it.

API: ``PrivatePostgres(workdir)``, ``PrivateMariaDB(workdir)`` and
``PrivateRedis(workdir)``, each with ``start()``, ``stop()`` (fast shutdown;
the data stays), ``destroy()`` and ``url``; pytest fixtures
``private_postgres``, ``private_mariadb`` and ``private_redis``.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests import services as test_services

PG_BIN = '/usr/lib/postgresql/15/bin'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait_listening(port, proc=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test_services.is_listening(port, timeout=0.2):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError('nothing listens on port %d' % port)


def _missing(what):
    msg = '%s is not installed: cannot run a private server' % what
    if test_services.in_ci():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


class _ChildServer:
    """A server run as this process's child, from its own directory."""

    dir = None
    proc = None

    def _spawn(self, argv, port):
        log = open(os.path.join(self.dir, 'log'), 'ab')
        self.proc = subprocess.Popen(argv, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        _wait_listening(port, self.proc)

    def stop(self):
        """SIGTERM: the server shuts down, every client connection is cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        self.proc = None

    def destroy(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of our own (trust authentication)."""

    def __init__(self, workdir=None):
        if not os.path.exists(os.path.join(PG_BIN, 'pg_ctl')):
            _missing('PostgreSQL 15')
        # PostgreSQL refuses to run as root: as postgres when we are root.
        self._user = 'postgres' if os.geteuid() == 0 else None
        self.dir = tempfile.mkdtemp(prefix='mo-pg-', dir=workdir)
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run('initdb', '-D', self.data, '-A', 'trust', '-U',
                  'postgres', '--no-sync')
        self.url = ('postgresql+psycopg2://postgres@127.0.0.1:%d/postgres'
                    % self.port)

    def _run(self, tool, *args, check=True):
        cmd = [os.path.join(PG_BIN, tool)] + list(args)
        if self._user:
            cmd = ['runuser', '-u', self._user, '--'] + cmd
        return subprocess.run(cmd, check=check, capture_output=True,
                              timeout=120)

    def start(self):
        self._run('pg_ctl', '-D', self.data, '-w', '-l',
                  os.path.join(self.dir, 'log'), '-o',
                  '-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off '
                  '-c max_connections=300' % (self.port, self.dir), 'start')
        _wait_listening(self.port)

    def stop(self):
        """Fast shutdown: every client connection is cut."""
        self._run('pg_ctl', '-D', self.data, '-w', '-m', 'fast', 'stop',
                  check=False)

    def destroy(self):
        self._run('pg_ctl', '-D', self.data, '-w', '-m', 'immediate',
                  'stop', check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateMariaDB(_ChildServer):
    """A MariaDB server of our own: no grant tables (any client is root),
    TCP on a free port, a socket in its own directory."""

    def __init__(self, workdir=None):
        self.exe = shutil.which('mariadbd', path='/usr/sbin:/usr/bin')
        install = shutil.which('mariadb-install-db', path='/usr/bin')
        if self.exe is None or install is None:
            _missing('MariaDB (mariadbd)')
        self.dir = tempfile.mkdtemp(prefix='mo-mariadb-', dir=workdir)
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        subprocess.run([install, '--no-defaults', '--datadir=' + self.data,
                        '--user=' + pwd.getpwuid(os.geteuid()).pw_name,
                        '--auth-root-authentication-method=normal',
                        '--skip-test-db'],
                       check=True, capture_output=True, timeout=120)
        self.url = 'mysql+pymysql://root@127.0.0.1:%d/test' % self.port
        self._created = False

    def start(self):
        self._spawn(
            [self.exe, '--no-defaults', '--datadir=' + self.data,
             '--user=' + pwd.getpwuid(os.geteuid()).pw_name,
             '--port=%d' % self.port, '--bind-address=127.0.0.1',
             '--socket=' + os.path.join(self.dir, 'sock'),
             '--pid-file=' + os.path.join(self.dir, 'pid'),
             '--skip-grant-tables', '--skip-log-bin',
             '--innodb-flush-log-at-trx-commit=2', '--max-connections=300'],
            self.port)
        if not self._created:
            import pymysql
            conn = pymysql.connect(host='127.0.0.1', port=self.port,
                                   user='root')
            try:
                with conn.cursor() as cur:
                    cur.execute('CREATE DATABASE IF NOT EXISTS test')
            finally:
                conn.close()
            self._created = True


class PrivateRedis(_ChildServer):
    """A redis-server of our own, without persistence: a restart loses
    every key, as a Redis without ``save`` does in production."""

    def __init__(self, workdir=None):
        self.exe = shutil.which('redis-server')
        if self.exe is None:
            _missing('redis-server')
        self.dir = tempfile.mkdtemp(prefix='mo-redis-', dir=workdir)
        self.port = free_port()
        self.url = 'redis://127.0.0.1:%d' % self.port

    def start(self):
        self._spawn(
            [self.exe, '--port', str(self.port), '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', self.dir],
            self.port)


def _running(server):
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_postgres(tmp_path):
    yield from _running(PrivatePostgres())


@pytest.fixture
def private_mariadb(tmp_path):
    yield from _running(PrivateMariaDB())


@pytest.fixture
def private_redis(tmp_path):
    yield from _running(PrivateRedis())
