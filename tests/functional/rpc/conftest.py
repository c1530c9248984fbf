"""One conductor service (SQLite) shared by the package's tests, each on
instances of its own; tests that restart or break things start their own."""

import pytest

from move_orchestrator import context
from tests.db_fixtures import mysql_url  # noqa: F401
from tests.db_fixtures import postgresql_url  # noqa: F401
from tests.db_fixtures import sqlite_url  # noqa: F401
from tests.functional.rpc import harness

# Per-host faults of the shared service: moves to host-faulty revert; on
# host-bad1/2 the disk copy and then the revert's disk deletion fail once,
# so the move ends "failed" and an operator's resume or revert can finish it;
# a live migration to host-slow stays in flight (its destination takes 2 s to
# prepare) long enough to be acted on.
FAULTS = ('copy_disk@host-faulty=fail, copy_disk@host-bad1=fail_once, '
          'delete_disk@host-bad1=fail_once, copy_disk@host-bad2=fail_once, '
          'delete_disk@host-bad2=fail_once, prepare_incoming@host-slow=slow')


@pytest.fixture(scope='package')
def conductor(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('conductor')
    with harness.private_vhost() as broker_url:
        proc = harness.ConductorProcess(
            workdir, broker_url, 'sqlite:///%s' % (workdir / 'mo.db'),
            fake_driver={'operation_delay': 0.002, 'faults': FAULTS})
        proc.broker_url = broker_url
        proc.db_sync()
        proc.hosts = harness.seed(proc.services)
        proc.start()
        try:
            yield proc
        finally:
            rc = proc.stop()
        assert rc == 0, proc.log_text()[-3000:]


@pytest.fixture(scope='package')
def api(conductor):
    client = harness.client(conductor.broker_url)
    yield client
    client.cleanup()


@pytest.fixture(scope='package')
def notifications(api):
    with harness.notification_listener(api) as collector:
        yield collector


@pytest.fixture
def admin():
    return context.get_admin_context()


@pytest.fixture
def boot(conductor):
    """boot(host=..., ...) -> a new instance on the shared service."""
    def _boot(host=None, **kwargs):
        return harness.boot(conductor.services, host or conductor.hosts[0],
                            **kwargs)
    return _boot
