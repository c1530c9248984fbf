"""Several conductor services on one PostgreSQL database and one Redis
jobboard (a board of its own per test), from the RPC tests' harness."""

from concurrent import futures
import contextlib
import os
import re
import signal
import uuid

import pytest
import redis

from move_orchestrator import audit
from move_orchestrator.conductor import redisboard
from move_orchestrator import context
from tests.db_fixtures import postgresql_url  # noqa: F401
from tests.functional.rpc import harness
from tests import services as test_services

REDIS = 'redis://127.0.0.1:6379'


class Cluster:
    def __init__(self, workdir, broker_url, db_url, board, count, expiry,
                 delay, redis_url=REDIS, limits=None):
        self.board = board
        self.broker_url = broker_url
        self.conductors = [
            harness.ConductorProcess(
                workdir, broker_url, db_url, host='conductor-%d' % i,
                jobboard={'backend': redis_url,
                          'board_name': board, 'claim_expiry': expiry,
                          'renew_interval': expiry / 6.0, 'workers': 6,
                          'poll_interval': 0.1},
                fake_driver={'operation_delay': delay, 'faults': '',
                             'record_operations': True},
                limits=limits or {})
            for i in range(count)]
        first = self.conductors[0]
        first.db_sync()
        self.hosts = harness.seed(first.services)
        self.services = first.services
        for proc in self.conductors:
            proc.start()
        self.api = harness.client(broker_url)
        self.admin = context.get_admin_context()

    def runner_pid(self, proc):
        """The pid of the conductor's (latest) move runner child."""
        return int(re.findall(r'Moves run in process (\d+)',
                              proc.log_text())[-1])

    def runner_name(self, proc, pid=None):
        return '%s.%d' % (proc.host, pid or self.runner_pid(proc))

    def live_on_board(self):
        """The conductors the board says are alive (their runners' names)."""
        board = redisboard.Board('test', redisboard.board_conf(
            self.services.conf), self.services.conf.jobboard.claim_expiry)
        board.connect()
        try:
            return set(board.live_conductors())
        finally:
            board.close()

    def wait_live(self, procs=None):
        """Until every one of ``procs`` (all) is seen live on the board."""
        def _live():
            try:
                names = {self.runner_name(p) for p in procs or self.conductors}
            except IndexError:
                return False        # a runner not started yet
            return names <= self.live_on_board()

        harness.wait_for(_live, timeout=60)

    def kill(self, proc):
        """SIGKILL the whole conductor at once, as a lost machine: its
        processes are the session its master opened."""
        os.killpg(proc.proc.pid, signal.SIGKILL)
        proc.stop(signal.SIGKILL)

    def claims(self, move_id):
        return [e for e in self.services.store.events(move_id)
                if e['kind'] == 'claim']

    def storm(self, count, live_every=2):
        """``count`` moves of as many instances, half live, accepted over
        RPC at once by whichever conductors the broker picks."""
        vms = [harness.boot(self.services, self.hosts[i % 3],
                            power_state='running' if i % live_every
                            else 'shutdown') for i in range(count)]
        with futures.ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda i: self.api.move_instance(
                self.admin, vms[i]['uuid'],
                destination=self.hosts[3 + i % 3]), range(count)))

    def wait_all(self, docs, timeout=180):
        return [harness.wait_task(self.api, self.admin, d['id'],
                                  timeout=timeout) for d in docs]

    def check_world(self, done):
        """Every move ended well; the inventory and the hypervisor agree;
        nothing ran on one instance twice at once."""
        assert {d['state'] for d in done} == {'completed'}, [
            (d['id'], d['state'], d['reason']) for d in done
            if d['state'] != 'completed']
        assert audit.audit(self.services) == []
        assert self.services.driver.overlapping_operations() == []

    def stop(self):
        self.api.cleanup()
        codes = [proc.stop() for proc in self.conductors]
        self.services.db.dispose()
        return codes


@pytest.fixture
def cluster(tmp_path, postgresql_url):  # noqa: F811
    test_services.require_service('redis')
    made = []

    @contextlib.contextmanager
    def _make(count=3, expiry=3.0, delay=0.05, db_url=None,
              redis_url=REDIS, limits=None):
        """``db_url`` and ``redis_url``: other servers than the shared
        ones (a test that stops them brings its own); ``limits``: [limits]
        options."""
        board = 'mo-test-%s' % uuid.uuid4().hex[:12]
        with harness.private_vhost() as broker_url:
            c = Cluster(tmp_path, broker_url, db_url or postgresql_url,
                        board, count, expiry, delay, redis_url, limits)
            made.append(c)
            try:
                yield c
            finally:
                c.stop()
                try:
                    client = redis.Redis.from_url(redis_url)
                    for key in client.scan_iter(board + '*'):
                        client.delete(key)
                    client.close()
                except redis.exceptions.ConnectionError:
                    pass    # a private server, stopped already

    return _make
