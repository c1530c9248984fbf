"""Reads that conductors and operators make stay cheap however many moves
the cloud has made: the rows that ended are never read one by one.

* The conductors' looks for work (several a second per conductor, and at
  every move's accept and end) asked for ``state NOT IN`` the terminal
  states, which read every row of ``moves``: 0.2 ms with no history, 37 ms
  on SQLite and 18 ms on PostgreSQL with 100,000 ended moves (``tox -e
  bench -- --only admission`` prints it). MariaDB turns that ``NOT IN``
  into index ranges by itself, so there the plan test is a guard only.
* A page of the task list sorted every move (0.2 s for 20 tasks at
  100,000 moves on SQLite).
* The audit read every move (6.2 s at 100,000 on SQLite).
"""

import datetime
import re
import uuid

import pytest
import sqlalchemy as sa

from move_orchestrator import audit
from move_orchestrator.conductor import admission
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.db import drains as db_drains
from move_orchestrator.db import migration
from move_orchestrator.db import models
from move_orchestrator.db import moves as db_moves
from move_orchestrator.db import session as db_session
from move_orchestrator.moves import drain as move_drain
from move_orchestrator.moves import types as move_types
from move_orchestrator import states
from tests.db_fixtures import db_url  # noqa: F401

ENDED = 3000   # enough ended rows that every planner prefers an index
_EXPLAIN = {'sqlite': 'EXPLAIN QUERY PLAN ', 'postgresql': 'EXPLAIN ',
            'mysql': 'EXPLAIN '}
_T0 = datetime.datetime(2026, 1, 1)


def _move(state, type_name='live-migrate', n=0):
    return dict(id=str(uuid.uuid4()), instance_uuid=str(uuid.uuid4()),
                type=type_name, state=state, source_host='host1',
                dest_host='host2', old_flavor='f', new_flavor='f', live=True,
                request={}, params={}, ponr=False, generation=0,
                admitted_at=_T0, created_at=_T0 + datetime.timedelta(seconds=n),
                updated_at=_T0)


def _drain(state, n=0):
    return dict(id=str(uuid.uuid4()), host='host%d' % n, state=state,
                live=None, evacuate=False, total=0, refused={},
                created_at=_T0 + datetime.timedelta(seconds=n), updated_at=_T0)


@pytest.fixture
def database(db_url):  # noqa: F811
    """The schema, ENDED moves and drains that ended, and one move in each
    unfinished state of each type (one drain in each of a drain's);
    returns (db, the ids of the unfinished moves, of the drains)."""
    migration.upgrade(db_url)
    db = db_session.get_database(db_url)
    unfinished = [(t.name, s) for t in move_types.MOVE_TYPES.values()
                  for s in t.states if s not in states.TERMINAL_STATES]
    running = [_move(s, t, n) for n, (t, s) in enumerate(unfinished)]
    ended = [_move(states.TERMINAL_STATES[n % 3], n=n) for n in range(ENDED)]
    drains_running = [_drain(s, n) for n, s in enumerate(move_drain.UNFINISHED)]
    drains_ended = [_drain((states.COMPLETED, states.REVERTED)[n % 2], n)
                    for n in range(ENDED)]
    try:
        with db.engine.begin() as conn:
            conn.execute(models.Move.__table__.insert(), ended + running)
            conn.execute(models.Drain.__table__.insert(),
                         drains_ended + drains_running)
        with db.engine.connect().execution_options(
                isolation_level='AUTOCOMMIT') as conn:
            conn.exec_driver_sql({'sqlite': 'ANALYZE',
                                  'postgresql': 'ANALYZE moves, drains',
                                  'mysql': 'ANALYZE TABLE moves, drains'}[
                db.engine.dialect.name])
        yield (db, {m['id'] for m in running},
               {d['id'] for d in drains_running})
    finally:
        db_session.reset()


def _stores(db):
    return (db_moves.MoveStore(db, None, move_types.UNFINISHED_STATES),
            db_drains.DrainStore(db, move_drain.UNFINISHED))


def test_every_unfinished_state_is_found_and_no_ended_one(database):
    db, running, drains_running = database
    moves, drains = _stores(db)
    assert {m['id'] for m in moves.list_unfinished()} == running
    assert {m['id'] for m in moves.list_unfinished(fields=['id'])} == running
    assert {d['id'] for d in drains.list_unfinished()} == drains_running
    # Admission reads its own columns: the same moves, in their order.
    assert set(admission.Admission(db, CONF).runnable()) == running


def _plans_of_run(db, run, table='moves'):
    """(statement, plan) of each SELECT from ``table`` that run() sends,
    the plan as one lowercase text."""
    sent = []

    def capture(conn, cursor, statement, parameters, context, many):
        if statement.lstrip().upper().startswith('SELECT') and \
                re.search(r'\bFROM %s\b' % table, statement):
            sent.append((statement, parameters))
    sa.event.listen(db.engine, 'before_cursor_execute', capture)
    try:
        run()
    finally:
        sa.event.remove(db.engine, 'before_cursor_execute', capture)
    explain = _EXPLAIN[db.engine.dialect.name]
    plans = []
    with db.engine.connect() as conn:
        for statement, parameters in sent:
            rows = conn.exec_driver_sql(explain + statement,
                                        parameters).all()
            plans.append((' '.join(statement.split()), ' | '.join(
                ' '.join(str(v) for v in row) for row in rows).lower()))
    return plans


def test_the_looks_for_work_use_the_state_index(database):
    db, _running, _drains = database
    moves, drains = _stores(db)
    looks = {'the watch': (moves.list_unfinished, 'moves'),
             'admission': (admission.Admission(db, CONF).runnable, 'moves'),
             'the drains': (drains.list_unfinished, 'drains')}
    for name, (look, table) in looks.items():
        plans = _plans_of_run(db, look, table)
        assert plans, name
        for statement, plan in plans:
            assert 'ix_%s_state' % table in plan, \
                '%s: %s: %s' % (name, statement, plan)


def test_a_page_of_tasks_reads_the_index_of_their_creation(database):
    db, _running, _drains = database
    moves, _drains = _stores(db)
    page = []
    plans = _plans_of_run(db, lambda: page.extend(moves.list(limit=20)))
    assert len(page) == 20 and plans
    assert [p for s, p in plans if 'ix_moves_created_at_id' not in p] == []


@pytest.fixture
def services(database):
    db = database[0]
    CONF.set_override('connection', db.engine.url.render_as_string(
        hide_password=False), 'database')
    CONF.set_override('driver', 'fake', 'compute')
    try:
        yield services_mod.Services(CONF)
    finally:
        CONF.clear_override('connection', 'database')
        CONF.clear_override('driver', 'compute')


def test_the_audit_reads_only_the_moves_it_names(database, services):
    """Every read of ``moves`` the audit makes is narrowed by a condition
    (the ids it needs, or the states no type has), never the whole table
    into Python."""
    db = database[0]
    problems = []
    sent = _plans_of_run(db, lambda: problems.extend(audit.audit(services)))
    assert sent and all(' WHERE ' in statement for statement, _p in sent), \
        sent
    assert problems == []


def test_the_audit_names_a_move_in_a_state_no_type_has(database, services):
    """What the looks by state cannot see, the audit says."""
    db = database[0]
    stray = _move('defragmenting')
    with db.engine.begin() as conn:
        conn.execute(models.Move.__table__.insert(), [stray])
    problems = audit.audit(services)
    assert [p for p in problems if p['move'] == stray['id']] == [{
        'instance': stray['instance_uuid'], 'move': stray['id'],
        'problem': "move in state 'defragmenting', which no move type of "
                   "this release has: no conductor of this release runs it"}]
