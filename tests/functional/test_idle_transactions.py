"""[conductor] idle_transaction_timeout on the real servers: a process that
stops in the middle of a transaction (SIGSTOP, a lost network) does not
hold its row locks for ever, and finds out when it wakes."""

import threading
import time

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from move_orchestrator.conf import CONF
from move_orchestrator.db import outage
from move_orchestrator.db import session as db_session
from tests.db_fixtures import fresh_database

ROWS = sa.Table('idle_rows', sa.MetaData(),
                sa.Column('id', sa.Integer, primary_key=True),
                sa.Column('value', sa.Integer))


@pytest.fixture(params=['postgresql', 'mysql'])
def url(request):
    CONF.set_override('idle_transaction_timeout', 1, 'conductor')
    try:
        with fresh_database(request.param) as url:
            yield url
    finally:
        CONF.clear_override('idle_transaction_timeout', 'conductor')
        db_session.reset()


def test_a_frozen_transaction_releases_its_row_lock(url):
    frozen, other = db_session.Database(url), db_session.Database(url)
    try:
        with other.engine.begin() as conn:
            ROWS.create(conn)
            conn.execute(ROWS.insert().values(id=1, value=0))
        conn = frozen.engine.connect()
        txn = conn.begin()
        conn.execute(sa.select(ROWS).where(ROWS.c.id == 1).with_for_update())
        # ... and the process stops here. Another one updates the row:
        done = threading.Event()

        def update():
            with other.engine.begin() as c:
                c.execute(ROWS.update().values(value=1))
            done.set()
        threading.Thread(target=update, daemon=True).start()
        assert done.wait(30), 'the frozen session still holds the row lock'
        # The frozen process wakes: its transaction is gone, and it is told
        # as a lost connection, which a move's write waits out and retries.
        with pytest.raises((sa.exc.DBAPIError, db_exc.DBError)) as err:
            conn.execute(ROWS.update().values(value=2))
            txn.commit()
        assert outage.unavailable_cause(err.value), err.value
        conn.close()
        with other.engine.connect() as c:
            assert c.execute(sa.select(ROWS.c.value)).scalar() == 1
    finally:
        frozen.dispose()
        other.dispose()


def test_off_at_zero(url):
    CONF.set_override('idle_transaction_timeout', 0, 'conductor')
    db = db_session.Database(url)
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text('SELECT 1'))
            time.sleep(1.5)
            conn.execute(sa.text('SELECT 1'))   # not ended: no limit
    finally:
        db.dispose()
