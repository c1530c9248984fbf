"""SQLite sessions: writers take turns, readers never wait for them."""

import threading

import pytest
import sqlalchemy as sa

from move_orchestrator.db import session as db_session

COUNTER = sa.Table('counter', sa.MetaData(),
                   sa.Column('id', sa.Integer, primary_key=True),
                   sa.Column('value', sa.Integer))
# Only a guard against a hung test: the assertions are about order, not time.
GUARD = 30


@pytest.fixture
def db(tmp_path):
    database = db_session.Database('sqlite:///%s' % (tmp_path / 's.db'))
    COUNTER.create(database.engine)
    with database.session() as s:
        s.execute(COUNTER.insert().values(id=1, value=0))
    yield database
    database.dispose()


def _value(session):
    return session.execute(sa.select(COUNTER.c.value)).scalar()


def test_a_reader_does_not_wait_for_an_open_write(db):
    writing, read_done = threading.Event(), threading.Event()
    seen = []

    def writer():
        with db.session() as s:
            s.execute(COUNTER.update().values(value=1))
            writing.set()
            # Holds the process's writer lock and SQLite's until the
            # reader has finished: a reader that needed either would hang.
            read_done.wait(GUARD)

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(GUARD)
    with db.reader() as s:
        seen.append(_value(s))
    read_done.set()
    thread.join(GUARD)
    assert seen == [0]          # the last commit, not the open write
    with db.reader() as s:
        assert _value(s) == 1


def test_a_reader_commits_nothing(db):
    commits = []
    sa.event.listen(db.engine, 'commit', lambda conn: commits.append(1))
    with db.reader() as s:
        s.execute(COUNTER.update().values(value=5))
    with db.reader() as s:
        assert _value(s) == 0
    assert commits == []
    with db.session() as s:
        _value(s)
    assert commits == [1]


def test_writers_in_threads_take_turns(db):
    errors = []

    def bump():
        try:
            for _ in range(25):
                with db.session() as s:
                    value = _value(s)
                    s.execute(COUNTER.update().values(value=value + 1))
                with db.reader() as s:
                    _value(s)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GUARD * 4)
    assert errors == []
    with db.reader() as s:
        # No lost update: each read-modify-write ran alone.
        assert _value(s) == 150
