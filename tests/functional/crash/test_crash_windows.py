"""Crash windows that no fault point reaches (found by
test_random_kills.py), reproduced by killing a conductor just after the
window and putting the database in the state a kill inside it leaves; a
second conductor (no fault at all) must then bring the move to its end by
the resumption rules, as after any kill point (test_kill_points.py).
"""

import json
import os
import sqlite3

import pytest

from tests.functional.crash import common
from tests.functional.crash.killpoints import KillPoint
from tests.functional.crash.killpoints import POLICIES
from tests.functional.crash.killpoints import RECOVERY_TIMEOUT


def _config(workdir, name, db, policy=None, faults=None):
    sections = {}
    if policy:
        sections['conductor'] = {'resume_policy': policy}
    if faults:
        sections['fault_injection'] = {'task_faults': faults}
    return common.write_config(os.path.join(workdir, '%s.conf' % name), db,
                               sections)


def _recover(runner, workdir, db, policy=None):
    """A conductor with no fault takes the move up; then the audit."""
    conf = _config(workdir, 'recover', db, policy)
    recovery = runner.cli(workdir, 'recover', conf, 'conductor',
                          '--until-idle', '--poll', '0.02',
                          timeout=RECOVERY_TIMEOUT)
    return recovery, runner.cli(workdir, 'audit', conf, 'audit')


def _kill_tamper_recover(runner, point, template, workdir, tamper):
    """Kill at ``point``, ``tamper(db)`` as a kill inside the window
    leaves it, recover: (recovery, audit)."""
    db = os.path.join(workdir, 'mo.db')
    common.copy_database(template['template'], db)
    killed = runner.cli(workdir, 'killed', _config(
        workdir, 'killed', db, point.policy, point.faults), 'conductor',
        '--until-idle')
    assert killed.returncode == -9, killed
    tamper(db)
    return _recover(runner, workdir, db, point.policy)


def _recovered(recovery, audit, db, move_id, state):
    assert recovery.returncode == 0 and not recovery.timed_out, recovery
    doc = common.read_tasks(db)[move_id]
    assert doc['state'] == state, (doc['reason'], doc['history'])
    assert audit.returncode == 0, audit.stdout
    return doc


# -- the window between an atom's save and the move's state ----------------
# The listener moves the move to a step's state when TaskFlow announces the
# step RUNNING, after the atom's RUNNING state (and its history row) is
# committed. A kill in between leaves the atom RUNNING and the move in the
# previous state. There is no fault point in that window, so the kill is
# taken just after it (``execute.before``) and the database is put back to
# what a kill inside it leaves: the move's last state change undone.
WINDOW_POINTS = [KillPoint(t, task, 'execute', 'before', policy)
                 for t, task in (('cold-migrate', 'ClaimDestination'),
                                 ('cold-migrate', 'CopyDisk'),
                                 ('live-migrate', 'TransferMemory'),
                                 ('resize', 'VerifyResize'))
                 for policy in POLICIES]


def rewind_last_state_change(db, move_id):
    con = sqlite3.connect(db, timeout=60)
    try:
        with con:
            row_id, detail = con.execute(
                "SELECT id, detail FROM move_events WHERE move_id = ? AND "
                "kind = 'move' ORDER BY id DESC LIMIT 1", (move_id,)
            ).fetchone()
            previous = json.loads(detail)['from']
            con.execute('DELETE FROM move_events WHERE id = ?', (row_id,))
            con.execute('UPDATE moves SET state = ? WHERE id = ?',
                        (previous, move_id))
        return previous
    finally:
        con.close()


@pytest.mark.parametrize('point', WINDOW_POINTS,
                         ids=[p.id for p in WINDOW_POINTS])
def test_kill_between_step_start_and_state_change(
        point, crash_pool, one_move_templates, tmp_path):
    template = one_move_templates[point.type]
    recovery, audit = crash_pool.submit(
        _kill_tamper_recover, point, template, str(tmp_path),
        lambda db: rewind_last_state_change(db, template['move'])).result()
    _recovered(recovery, audit, str(tmp_path / 'mo.db'), template['move'],
               point.expected)


# -- the window inside TaskFlow's Storage.inject -----------------------------
# Loading a flow detail for the first time, TaskFlow saves the injector atom
# (the engine's store) empty, then saves it again with the values: two
# commits. A kill between them left ``_TaskFlow_INJECTOR`` with no results,
# and every later load of the flow detail failed in Storage.__init__
# (``source.results.keys()`` on None). The conductor now injects the store
# in memory only (it is derived from the move record on every load), so no
# injector atom is persisted and the window is gone: checked here on a flow
# killed in its first task, before and after the point of no return.
INJECT_POINTS = [KillPoint('cold-migrate', 'ClaimDestination', 'execute',
                           'before', 'resume'),
                 KillPoint('cold-migrate', 'DestroySource', 'execute',
                           'before', 'resume')]


def empty_injector(db, move_id, stage):
    """No injector atom of the move's stage is persisted to be emptied."""
    con = sqlite3.connect(db, timeout=60)
    try:
        count, = con.execute(
            "SELECT count(*) FROM tf_atomdetails WHERE name = "
            "'_TaskFlow_INJECTOR' AND parent_uuid IN (SELECT uuid FROM "
            'tf_flowdetails WHERE parent_uuid = ? AND name = ?)',
            (move_id, stage)).fetchone()
        assert count == 0
    finally:
        con.close()


@pytest.mark.parametrize('point', INJECT_POINTS,
                         ids=[p.id for p in INJECT_POINTS])
def test_kill_inside_taskflow_inject(point, crash_pool, one_move_templates,
                                     tmp_path):
    template = one_move_templates[point.type]
    stage = 'main' if point.before_ponr else 'cleanup'
    recovery, audit = crash_pool.submit(
        _kill_tamper_recover, point, template, str(tmp_path),
        lambda db: empty_injector(db, template['move'], stage)).result()
    _recovered(recovery, audit, str(tmp_path / 'mo.db'), template['move'],
               'completed')


# -- the window between a finished revert and its record --------------------
# A move's main flow reverted to the end (TaskFlow saved the flow REVERTED),
# and the conductor died before it recorded the move ``reverted``: the move
# is still ``reverting`` and its instance still held. No fault point lies in
# that window; the move is reverted by a failing step, then its last record
# (``reverted``, with the unlock of the instance) undone, as the kill leaves
# it. The failure was transient: the recovering conductor has no fault.


@pytest.mark.parametrize('after', [
    'revert-ended',
    # ... and the next conductor's prepare() reset the flow, then it died.
    'reset-by-prepare'])
@pytest.mark.parametrize('policy', POLICIES)
def test_kill_between_revert_end_and_record(policy, after, crash_pool,
                                            one_move_templates, tmp_path):
    template = one_move_templates['cold-migrate']
    move_id = template['move']
    workdir = str(tmp_path)
    db = os.path.join(workdir, 'mo.db')

    def run(runner):
        common.copy_database(template['template'], db)
        faulty = _config(workdir, 'faulty', db, policy,
                         ['CopyDisk.execute=fail'])
        first = runner.cli(workdir, 'faulty', faulty, 'conductor',
                           '--until-idle')
        assert first.returncode == 0, first
        assert common.read_tasks(db)[move_id]['state'] == 'reverted'
        con = sqlite3.connect(db, timeout=60)
        try:
            with con:
                con.execute(
                    "DELETE FROM move_events WHERE id = (SELECT max(id) FROM "
                    "move_events WHERE move_id = ? AND kind = 'move' AND "
                    "state = 'reverted')", (move_id,))
                con.execute("UPDATE moves SET state = 'reverting', reason = "
                            'NULL, failed_step = NULL, finished_at = NULL '
                            'WHERE id = ?', (move_id,))
                con.execute('UPDATE instances SET move_id = ? WHERE name = ?',
                            (move_id, template['instance']))
                if after == 'reset-by-prepare':
                    # What TaskFlow's engine.prepare() -> reset() persists.
                    con.execute(
                        "UPDATE tf_flowdetails SET state = 'PENDING' WHERE "
                        "parent_uuid = ? AND name = 'main'", (move_id,))
                    con.execute(
                        "UPDATE tf_atomdetails SET state = 'PENDING', "
                        "intention = 'EXECUTE' WHERE parent_uuid IN (SELECT "
                        "uuid FROM tf_flowdetails WHERE parent_uuid = ? AND "
                        "name = 'main')", (move_id,))
        finally:
            con.close()
        boundary = common.last_event_id(db)
        return (boundary,) + _recover(runner, workdir, db, policy)

    boundary, recovery, audit = crash_pool.submit(run).result()
    doc = _recovered(recovery, audit, db, move_id, 'reverted')
    ran = [e['name'] for e in doc['events'] if e['id'] > boundary
           and e['kind'] == 'subtask' and e['state'] == 'RUNNING']
    assert ran == [], 'steps run forward again: %s' % ran
    instance = common.read_instances(db)[template['instance']]
    assert instance['host'] == template['source']
