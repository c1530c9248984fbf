"""The fake driver's record of operations keeps its times to the
millisecond on every database: the overlap check of the storm and outage
tests compares them (a single-precision FLOAT on MariaDB kept about two
minutes of resolution and flagged operations run one after the other)."""

import sqlalchemy as sa

from move_orchestrator.db import migration
from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from tests.db_fixtures import db_url  # noqa: F401


def test_operation_times_round_trip_to_the_millisecond(db_url):  # noqa: F811
    migration.upgrade(db_url)
    db = db_session.get_database(db_url)
    try:
        started, ended = 1796530001.234, 1796530001.987
        with db.session() as s:
            s.add(models.FakeOperation(
                instance_uuid='i', operation='spawn', runner='r',
                started=started, ended=ended))
        with db.session() as s:
            op = s.scalars(sa.select(models.FakeOperation)).one()
            assert abs(op.started - started) < 0.001, op.started
            assert abs(op.ended - ended) < 0.001, op.ended
    finally:
        db_session.reset()
