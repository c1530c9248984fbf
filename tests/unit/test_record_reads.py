"""How often a move's run reads and writes its own record.

A conductor's cost per move is mostly its transactions, so the reads it
can do without are checked here by count: the statements are SQLite's, the
same in every run of a move on the fake driver.
"""

import contextlib
import re
import threading

import pytest
import sqlalchemy as sa

from move_orchestrator import exception
from tests.unit import test_state_in_step_commit


class Statements:
    """The SQL this process sends, by kind (every thread, or one)."""

    def __init__(self, engine, thread=None):
        self.seen = []
        self._thread = thread
        sa.event.listen(engine, 'before_cursor_execute', self._before)

    def _before(self, conn, cursor, statement, params, context, many):
        if self._thread is None or threading.get_ident() == self._thread:
            self.seen.append(re.sub(r'\s+', ' ', statement))

    def count(self, pattern):
        return sum(1 for s in self.seen if re.search(pattern, s))


def test_a_move_reads_its_record_by_id_at_most_15_times(cloud):
    cloud.move('vm1', destination='host3')      # warm: first loads done
    sql = Statements(cloud.services.db.engine)
    doc = cloud.move('vm1', destination='host1')
    assert doc['state'] == 'completed'
    # Measured: 25 before (a read to announce each phase, another before
    # each event, the flow factory's own), 14 since.
    whole_row = r'^SELECT moves\.id, moves\.instance_uuid.* WHERE moves\.id = \?$'
    assert sql.count(whole_row) <= 15
    # The claim is checked at the row's read in a state change, not by a
    # read of its own (32 before).
    assert sql.count(r'^SELECT moves\.generation FROM moves') <= 24


def test_a_phase_written_in_a_step_save_is_announced_with_no_read(cloud):
    services = cloud.services
    recorder = cloud.api.conductor.recorder
    heard = []
    recorder.observers.append(lambda move_id, state: heard.append(state))
    move_id = cloud.move('vm1', destination='host3')['id']
    services.store.update(move_id, state='claiming')
    fd, ad = test_state_in_step_commit.one_step_flow(services)
    services.history.register(
        fd.uuid, move_id, lambda name: 'pre-check',
        on_start=lambda save, atom: recorder.enter_step(
            move_id, 'pre-checking', save=save))
    heard.clear()
    sql = Statements(services.db.engine, threading.get_ident())
    ad.state = 'RUNNING'
    try:
        test_state_in_step_commit.save_atom(services, ad)
    finally:
        services.history.unregister(fd.uuid, [ad.uuid])
    assert heard == ['pre-checking']
    # The one read of the move is the locked one the write needs.
    whole_row = r'^SELECT moves\.id, moves\.instance_uuid.* WHERE moves\.id = \?$'
    assert sql.count(whole_row) == 1, sql.seen


def test_a_state_change_asked_by_an_event_writes_without_reading_first(cloud):
    move_id = cloud.move('vm1', destination='host3')['id']
    cloud.services.store.update(move_id, state='claiming')
    sql = Statements(cloud.services.db.engine, threading.get_ident())
    cloud.api.conductor.recorder.fire(move_id, 'fail')
    assert cloud.services.store.get(move_id)['state'] == 'failed'
    # One write transaction; the only read-only one is the check above.
    assert sql.count(r'^BEGIN IMMEDIATE$') == 1
    assert sql.count(r'^BEGIN$') == 1


def test_a_core_write_commits_or_rolls_back_whole(cloud):
    db = cloud.services.db
    host = sa.table('hosts', sa.column('name'), sa.column('vcpus'))
    with db.write() as conn:
        conn.execute(host.update().where(host.c.name == 'host1')
                     .values(vcpus=7))
    assert cloud.services.inventory.get_host('host1')['vcpus'] == 7
    with contextlib.suppress(RuntimeError):
        with db.write() as conn:
            conn.execute(host.update().where(host.c.name == 'host1')
                         .values(vcpus=9))
            raise RuntimeError('the caller fails')
    assert cloud.services.inventory.get_host('host1')['vcpus'] == 7
    with db.read() as conn:
        assert conn.execute(sa.select(host.c.vcpus).where(
            host.c.name == 'host1')).scalar() == 7


def test_a_move_read_for_a_write_under_a_lost_claim_is_refused(cloud):
    store = cloud.services.store
    move_id = cloud.move('vm1', destination='host3')['id']
    generation = store.get(move_id)['generation']
    store.fences.hold(move_id, generation + 1)    # another claim's token
    try:
        with pytest.raises(exception.ClaimLost):
            store.set_state(move_id, lambda move: 'failed', read_first=False)
        assert store.get(move_id)['state'] == 'completed'
    finally:
        store.fences.release(move_id)
