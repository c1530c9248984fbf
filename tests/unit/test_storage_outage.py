"""A full disk under the database is waited out, and said once, plainly.

The disk is made full for real: SQLite's ``max_page_count`` set to the
database's current size on every connection makes every write that needs
a new page fail with SQLITE_FULL ("database or disk is full"), as a full
file system does.
"""

import logging
import time

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from move_orchestrator.db import outage
from move_orchestrator.db import session as db_session
from move_orchestrator import exception
from tests import private_services
from tests import waiting

UNLIMITED = 1073741823


class FullDisk:
    """Every connection of the engine sees a disk that is full or not."""

    def __init__(self, engine):
        self.full = False
        self.engine = engine
        sa.event.listen(engine, 'checkout', self._checkout)

    def _checkout(self, dbapi_con, record, proxy):
        dbapi_con.execute('PRAGMA max_page_count = %d'
                          % (1 if self.full else UNLIMITED))

    def set(self, full):
        self.full = full
        # Connections idle in the pool get it at their next checkout.

    def close(self):
        sa.event.remove(self.engine, 'checkout', self._checkout)


@pytest.fixture
def full_disk(cloud):
    disk = FullDisk(cloud.services.db.engine)
    yield disk
    disk.close()


def _fill(services):
    """Writes until the database file has no free page left."""
    with pytest.raises(exception.StorageUnavailable) as err:
        for i in range(100000):
            services.store.add_event(
                _any_move(services), 'note', 'filler', 'x' * 2000)
    return err.value


def _any_move(services):
    return services.store.list()[0]['id']


def test_a_read_is_answered_and_a_write_refused_in_one_line(cloud,
                                                            full_disk):
    cloud.move('vm1', destination=None)
    full_disk.set(True)
    error = _fill(cloud.services)
    # Typed, one line, the cause first.
    assert error.kwargs['cause'] == 'database or disk is full'
    assert str(error).startswith(
        'Storage unavailable (database or disk is full)')
    assert '\n' not in str(error)
    assert cloud.services.store.get(_any_move(cloud.services))


def test_a_move_waits_for_the_disk_and_then_completes(make_cloud, caplog):
    cloud = make_cloud(fake_driver__operation_delay=0.05,
                       conductor__storage_log_interval=60,
                       conductor__storage_retry_max_interval=0.2)
    disk = FullDisk(cloud.services.db.engine)
    try:
        caplog.set_level(logging.WARNING, logger='move_orchestrator')
        doc = cloud.api.move_instance(None, 'vm1')
        waiting.wait_for(lambda: cloud.api.get_task(None, doc['id'])['state']
                         not in ('accepted',), timeout=30)
        disk.set(True)
        _fill_quietly(cloud.services)
        # The move waits, and its task says why.
        seen = waiting.wait_for(
            lambda: (cloud.api.get_task(None, doc['id'])['waiting'] or ''),
            timeout=30)
        assert 'the database is unavailable (database or disk is full)' \
            in seen, seen
        assert outage.current()[0] == 'database or disk is full'
        time.sleep(1.0)     # a few retries, each one silent
        assert cloud.api.get_task(None, doc['id'])['state'] not in (
            'completed', 'reverted', 'failed')
        disk.set(False)
        done = cloud.api.wait_task(None, doc['id'], timeout=60)
    finally:
        disk.close()
    assert done['state'] == 'completed', done['reason']
    assert not done['waiting']
    assert cloud.audit() == []
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith('Storage unavailable')]
    # The cause in the first line, once for the whole outage (rate
    # limited), then once when it is over.
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        'Storage unavailable (database or disk is full):'), lines
    assert not any('StorageFailure' in r.getMessage()
                   for r in caplog.records)
    assert any(r.getMessage().startswith('Storage available again')
               for r in caplog.records)


def _fill_quietly(services):
    try:
        _fill(services)
    except BaseException:   # noqa: B902 - full already: fine
        pass


def test_an_unreachable_server_is_an_outage_a_bad_query_is_not(cloud):
    """Told apart by type and error code: a refused connection is an
    outage (StorageUnavailable, at once outside a move); a query the
    database refuses is the caller's error, raised as it is."""
    url = ('postgresql+psycopg2://mo@127.0.0.1:%d/mo'
           % private_services.free_port())
    with pytest.raises(Exception) as err:    # noqa: B017 - checked below
        db_session.Database(url)
    unavailable = outage.typed(err.value)
    assert isinstance(unavailable, exception.StorageUnavailable)
    assert unavailable.kwargs['cause'] == 'connection failed'
    assert 'Connection refused' in unavailable.kwargs['detail']
    with pytest.raises(db_exc.DBNonExistentTable) as err:
        with cloud.services.db.reader() as s:
            s.execute(sa.text('SELECT * FROM no_such_table'))
    assert outage.unavailable_cause(err.value) is None
