"""Admission is atomic across processes: two processes race it on one
PostgreSQL (and MariaDB) database, and the records show that no limit was
ever exceeded: at the moment each move was admitted, the moves holding a
slot (admitted, not yet ended) were within every limit."""

import os
import subprocess
import sys
import uuid

from move_orchestrator.db import migration
from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from tests.db_fixtures import mysql_url  # noqa: F401
from tests.db_fixtures import postgresql_url  # noqa: F401

import pytest

SOURCES = ('host1', 'host2', 'host3')
DESTS = ('host4', 'host5', 'host6', 'host7')
MOVES = 120
LIMITS = {'out-live': 1, 'out': 2, 'in': 1, 'all': 5}


def seed(url):
    migration.upgrade(url)
    db = db_session.get_database(url)
    with db.session() as s:
        for i in range(MOVES):
            live = i % 3 != 0
            s.add(models.Move(
                id=str(uuid.uuid4()), instance_uuid=str(uuid.uuid4()),
                type='live-migrate' if live else 'cold-migrate',
                state='accepted', source_host=SOURCES[i % 3],
                dest_host=DESTS[i % 4], old_flavor='f', new_flavor='f',
                live=live, created_at=models.utcnow()))
    return db


def peaks(moves):
    found = {}
    for move in moves:
        at = move.admitted_at
        holding = [m for m in moves if m.admitted_at <= at < m.finished_at]
        for key, count in (
                ('all', len(holding)),
                ('out', max(sum(m.source_host == h for m in holding)
                            for h in SOURCES)),
                ('out-live', max(sum(m.source_host == h and m.live
                                     for m in holding) for h in SOURCES)),
                ('in', max(sum(m.dest_host == h for m in holding)
                           for h in DESTS))):
            found[key] = max(found.get(key, 0), count)
    return found


def race(url):
    db = seed(url)
    workers = [subprocess.Popen(
        [sys.executable, '-m', 'tests.functional.admission_worker', url,
         str(n)], cwd=os.path.dirname(os.path.dirname(os.path.dirname(
             os.path.abspath(__file__))))) for n in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    import sqlalchemy as sa
    with db.session() as s:
        moves = s.scalars(sa.select(models.Move)).all()
    db_session.reset()
    assert {m.state for m in moves} == {'completed'}
    assert all(m.admitted_at is not None for m in moves)
    found = peaks(moves)
    for key, limit in LIMITS.items():
        assert 1 <= found[key] <= limit, (key, found)
    return found


def test_two_processes_race_admission_on_postgresql(postgresql_url):  # noqa
    race(postgresql_url)


@pytest.mark.parametrize('kind', ['mysql'])
def test_two_processes_race_admission_on_mariadb(mysql_url, kind):  # noqa
    race(mysql_url)
