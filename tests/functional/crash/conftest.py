"""Fixtures of the crash tests: a pool of worker threads, each with its own
fork server (or plain subprocesses with MO_TEST_CRASH_EXEC=1), and seeded
template databases built once per session and copied per test."""

import concurrent.futures
import json
import os
import threading

import pytest

from tests.functional.crash import common
from tests.functional.crash import seeding


def workers():
    value = os.environ.get('MO_TEST_CRASH_WORKERS')
    if value:
        return max(1, int(value))
    return max(1, min(2, os.cpu_count() or 1))


class Pool:
    """Worker threads, each running its commands through its own runner:
    kill points are independent (a database each), so they run side by
    side."""

    def __init__(self, size):
        self.size = size
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=size, thread_name_prefix='crash')
        self._local = threading.local()
        self._servers = []
        self._lock = threading.Lock()

    def runner(self):
        """This thread's runner."""
        runner = getattr(self._local, 'runner', None)
        if runner is None:
            server = None if common.EXEC else common.ForkServer()
            if server is not None:
                with self._lock:
                    self._servers.append(server)
            runner = self._local.runner = common.Runner(server)
        return runner

    def submit(self, func, *args):
        return self._executor.submit(lambda: func(self.runner(), *args))

    def close(self):
        self._executor.shutdown(wait=True, cancel_futures=True)
        for server in self._servers:
            server.close()


@pytest.fixture(scope='session')
def crash_pool():
    pool = Pool(workers())
    yield pool
    pool.close()


def _seed(runner, workdir, func, *args):
    db = os.path.join(workdir, 'template.db')
    config = common.write_config(os.path.join(workdir, 'seed.conf'), db)
    result = runner.call(workdir, 'seed', func, config, *args)
    assert result.returncode == 0, result
    assert not os.path.exists(db + '-wal') or \
        os.path.getsize(db + '-wal') == 0
    return dict(json.loads(result.stdout), template=db)


@pytest.fixture(scope='session')
def one_move_templates(crash_pool, tmp_path_factory):
    """type -> {'template': db file, 'move', 'source', 'dest', 'instance'}:
    the demo cloud of tests/harness.py with one accepted move."""
    futures = {}
    for type_name in seeding.MOVES:
        workdir = str(tmp_path_factory.mktemp('template-%s' % type_name))
        futures[type_name] = crash_pool.submit(
            _seed, workdir, 'seed_one_move', type_name)
    return {t: f.result() for t, f in futures.items()}


@pytest.fixture(scope='session')
def demo_template(crash_pool, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('template-demo'))
    return crash_pool.submit(_seed, workdir, 'seed_demo').result()
