"""The service itself: other databases, a broker restart, SIGTERM."""

import contextlib
import os
import re
import signal
import time

import oslo_messaging as messaging
import pytest

from move_orchestrator import context
from tests.functional.rpc import harness


@contextlib.contextmanager
def service(tmp_path, db_url, **extra):
    """A conductor of its own (own vhost, own database), stopped after."""
    with harness.private_vhost() as broker_url:
        proc = harness.ConductorProcess(tmp_path, broker_url, db_url,
                                        **extra)
        proc.db_sync()
        proc.hosts = harness.seed(proc.services)
        proc.start()
        api = harness.client(broker_url)
        try:
            yield proc, api
        finally:
            api.cleanup()
            rc = proc.stop()
            proc.services.db.dispose()
        assert rc == 0, proc.log_text()[-3000:]
        assert_quiet_stop(proc)


def assert_quiet_stop(proc):
    """Started and stopped without noise: no eventlet banner, no AMQP
    warning on closing the RPC server's channels."""
    log = proc.log_text()
    assert 'Conductor %s stopped' % proc.host in log
    assert 'Eventlet' not in log
    assert 'WARNING amqp' not in log, log[-3000:]


def _moves_complete(proc, api):
    admin = context.get_admin_context()
    live = harness.boot(proc.services, proc.hosts[0])
    cold = harness.boot(proc.services, proc.hosts[0], power_state='shutdown')
    docs = [api.move_instance(admin, live['uuid'], destination='host2'),
            api.move_instance(admin, cold['uuid'], destination='host3',
                              flavor='m1.small')]
    docs = [harness.wait_task(api, admin, d['id']) for d in docs]
    assert [(d['type'], d['state']) for d in docs] == [
        ('live-migrate', 'completed'), ('resize', 'completed')]
    assert api.audit(admin) == []
    assert {t['id'] for t in api.list_tasks(admin)} == {d['id']
                                                        for d in docs}


def test_on_postgresql(tmp_path, postgresql_url):
    with service(tmp_path, postgresql_url) as (proc, api):
        _moves_complete(proc, api)


def test_on_mariadb(tmp_path, mysql_url):
    with service(tmp_path, mysql_url) as (proc, api):
        _moves_complete(proc, api)


def _patient(call, *args, timeout=60):
    """call(*args), retried while the broker is away."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call(*args)
        except (messaging.MessagingTimeout, messaging.MessageDeliveryFailure,
                ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# Not among the parallel tests: a worker idle at the end of the run keeps its
# package's conductor, and with it the broker shared, until every worker
# ends, this one too (tox runs it after them). The lock still keeps other
# runs on the machine off the broker while it is down.
@pytest.mark.alone
def test_rabbitmq_restart_during_a_move(tmp_path, sqlite_url):
    admin = context.get_admin_context()
    # The broker to this test alone from the start: waiting for it once the
    # move runs could outlast the move.
    with harness.broker_alone(), service(
            tmp_path, sqlite_url, fake_driver={'operation_delay': 0.25}) as (proc, api):
        vm = harness.boot(proc.services, proc.hosts[0])
        doc = api.move_instance(admin, vm['uuid'], destination='host2')
        harness.wait_task(api, admin, doc['id'],
                          states=('preparing-destination', 'migrating-memory'))
        harness.rabbitmqctl('stop_app')
        try:
            time.sleep(1)
            mid = proc.services.store.get(doc['id'])['state']
            assert mid not in harness.TERMINAL   # really during the move
        finally:
            harness.rabbitmqctl('start_app')
            harness.rabbitmqctl('await_startup')
        doc = _patient(harness.wait_task, api, admin, doc['id'])
        assert doc['state'] == 'completed'
        # Still serving: a new move is accepted and runs.
        other = harness.boot(proc.services, proc.hosts[0])
        new = _patient(api.move_instance, admin, other['uuid'], 'host3')
        assert harness.wait_task(api, admin, new['id'])['state'] == \
            'completed'
        assert proc.proc.poll() is None
        assert 'Traceback' not in proc.log_text()


def test_sigterm_leaves_running_move_to_next_conductor(tmp_path, sqlite_url):
    admin = context.get_admin_context()
    with service(tmp_path, sqlite_url,
                 DEFAULT={'shutdown_timeout': 0.2},
                 fake_driver={'operation_delay': 0.5}) as (proc, api):
        vm = harness.boot(proc.services, proc.hosts[0],
                          power_state='shutdown')
        doc = api.move_instance(admin, vm['uuid'], destination='host2')
        # The disk copy is the long step (the fake network's port binding
        # before it takes no time): SIGTERM lands while it runs.
        harness.wait_task(api, admin, doc['id'],
                          states=('transferring', 'copying-disk'))
        started = time.monotonic()
        assert proc.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 15
        left = proc.services.store.get(doc['id'])
        assert left['state'] not in harness.TERMINAL
        assert 'left to the next' in proc.log_text(), proc.log_text()[-6000:]

        proc.start()    # the next conductor resumes it
        doc = harness.wait_task(api, admin, doc['id'])
        assert doc['state'] == 'completed', doc['reason']
        assert api.audit(admin) == []


def test_sigterm_lets_a_short_move_finish(tmp_path, sqlite_url):
    admin = context.get_admin_context()
    with service(tmp_path, sqlite_url,
                 fake_driver={'operation_delay': 0.05}) as (proc, api):
        vm = harness.boot(proc.services, proc.hosts[0])
        doc = api.move_instance(admin, vm['uuid'], destination='host2')
        # Any state of its run: its first ones last a few ms each.
        harness.wait_task(api, admin, doc['id'],
                          states=('claiming', 'pre-checking',
                                  'preparing-destination', 'migrating-memory',
                                  'switching-over', 'cleaning-up'))
        assert proc.stop(signal.SIGTERM) == 0
        assert proc.services.store.get(doc['id'])['state'] == 'completed', \
            proc.log_text()[-5000:]


def test_dead_move_runner_is_replaced(tmp_path, sqlite_url):
    """A killed runner child is replaced; the service keeps serving and
    the new runner carries the move on, with no operator action."""
    admin = context.get_admin_context()
    with service(tmp_path, sqlite_url,
                 fake_driver={'operation_delay': 0.3}) as (proc, api):
        vm = harness.boot(proc.services, proc.hosts[0])
        doc = api.move_instance(admin, vm['uuid'], destination='host2')
        # Its pre-checks take a few ms, the destination's preparation one
        # delayed operation: the memory copy is the long state.
        harness.wait_task(api, admin, doc['id'],
                          states=('pre-checking', 'preparing-destination',
                                  'migrating-memory'))
        runner_pid = int(re.search(r'Moves run in process (\d+)',
                                   proc.log_text()).group(1))
        os.kill(runner_pid, signal.SIGKILL)
        doc = harness.wait_task(api, admin, doc['id'])
        assert doc['state'] == 'completed', doc['reason']
        assert proc.proc.poll() is None      # still serving
        pids = re.findall(r'Moves run in process (\d+)', proc.log_text())
        assert len(pids) == 2 and int(pids[1]) != runner_pid
        claims = [e for e in proc.services.store.events(doc['id'])
                  if e['kind'] == 'claim']
        assert claims[-1]['detail'].get('taken_over_from') == \
            '%s.%d' % (proc.host, runner_pid)
