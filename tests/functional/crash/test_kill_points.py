"""The conductor SIGKILLed at deterministic points, then started again.

For every move type and every task of its flows (all five phases), the
conductor process is killed just before and just after the task's execute;
and, with a later task failing, just before and just after the revert of
every task that has something to undo (in cleanup: the reverts its retry
controller runs before it runs the cleanup again). A second conductor
process (no fault at all) must then bring the move to its end by the
resumption rules (doc/source/architecture.rst, "Durability"), and the
history must show it:

* before the point of no return, ``resume_policy = resume`` re-runs the
  interrupted task and completes the move; ``rollback`` reverts it;
* after the point of no return (cleanup) the move completes either way;
* a move killed while reverting finishes its revert, either way.

352 kill points in all (176 per policy). Below them, the crash windows that
no fault point reaches (found by test_random_kills.py), reproduced by
putting the database in the state a kill inside the window leaves.

Each kill point has a database of its own, copied from a seeded template;
the killed run, the recovery and the audit are separate processes. Kill
points run two at a time (MO_TEST_CRASH_WORKERS) through fork servers; see
forkserver.py. The outcome of each is computed in the background as soon
as the session starts these tests; each test asserts its own.
"""

import collections
import json
import os
import shutil
import sqlite3

import pytest

from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base
from move_orchestrator.steps import base as step_base
from tests.functional.crash import common

POLICIES = ('resume', 'rollback')
TYPES = ('live-migrate', 'cold-migrate', 'resize', 'evacuate')
RECOVERY_TIMEOUT = 60


def has_revert(step_cls):
    """Whether the task has something to undo (its own revert)."""
    func = getattr(step_cls.revert, '__unwrapped_step__', step_cls.revert)
    return func is not step_base.MoveStep.revert


class KillPoint(collections.namedtuple(
        'KillPoint', 'type task method when policy')):

    @property
    def id(self):
        return '%s-%s-%s.%s-%s' % (self.type, self.task, self.method,
                                   self.when, self.policy)

    @property
    def phase(self):
        return move_types.get(self.type).step_for(self.task).cls.phase

    @property
    def before_ponr(self):
        return self.phase != 'cleanup'

    @property
    def failing_task(self):
        """For a revert point: the task whose failure makes the move
        revert: the last task before the point of no return (which fails
        after its work when it is the one whose revert is killed); in
        cleanup, the last cleanup task, whose failure makes the retry
        controller revert the cleanup's steps and run them again."""
        if self.method != 'revert':
            return None
        if not self.before_ponr:
            return cleanup_tasks(self.type)[-1]
        return main_tasks(self.type)[-1]

    @property
    def faults(self):
        kill = '%s.%s.%s=kill' % (self.task, self.method, self.when)
        if self.method == 'execute':
            return [kill]
        failing = self.failing_task
        fail = '%s.execute%s=fail' % (
            failing, '.after' if failing == self.task else '')
        return [fail, kill]

    @property
    def expected(self):
        if self.method == 'revert' and self.before_ponr:
            return types_base.REVERTED
        if not self.before_ponr or self.policy == 'resume':
            return types_base.COMPLETED
        return types_base.REVERTED


def main_tasks(type_name):
    return [s.cls.__name__ for s in move_types.get(type_name).steps
            if s.cls.phase != 'cleanup']


def cleanup_tasks(type_name):
    return [s.cls.__name__ for s in move_types.get(type_name).steps
            if s.cls.phase == 'cleanup']


def kill_points():
    points = []
    for policy in POLICIES:
        for type_name in TYPES:
            steps = move_types.get(type_name).steps
            for step in steps:
                for when in ('before', 'after'):
                    points.append(KillPoint(type_name, step.cls.__name__,
                                            'execute', when, policy))
            for step in steps:
                # Before the point of no return, the steps that undo
                # something; after it, the cleanup steps, reverted (a
                # no-op) by their retry controller before it runs them
                # again.
                if step.cls.phase == 'cleanup' or has_revert(step.cls):
                    for when in ('before', 'after'):
                        points.append(KillPoint(
                            type_name, step.cls.__name__, 'revert', when,
                            policy))
    return points


POINTS = kill_points()
assert len(POINTS) >= 60
assert len({p.id for p in POINTS}) == len(POINTS)


def run_kill_point(runner, point, template, workdir):
    """Kill, recover, audit: what each process did and the records."""
    db = os.path.join(workdir, 'mo.db')
    common.copy_database(template['template'], db)
    killed_conf = common.write_config(
        os.path.join(workdir, 'killed.conf'), db, {
            'conductor': {'resume_policy': point.policy},
            'fault_injection': {'task_faults': point.faults}})
    recover_conf = common.write_config(
        os.path.join(workdir, 'recover.conf'), db, {
            'conductor': {'resume_policy': point.policy}})
    out = {'workdir': workdir}
    out['killed'] = runner.cli(workdir, 'killed', killed_conf, 'conductor',
                               '--until-idle', '--poll', '0.02')
    out['after_kill'] = common.read_tasks(db)[template['move']]
    out['boundary'] = common.last_event_id(db)
    out['recovery'] = runner.cli(workdir, 'recover', recover_conf,
                                 'conductor', '--until-idle', '--poll',
                                 '0.02', timeout=RECOVERY_TIMEOUT)
    out['audit'] = runner.cli(workdir, 'audit', recover_conf, 'audit', '-f',
                              'json')
    out['doc'] = common.read_tasks(db)[template['move']]
    out['instances'] = common.read_instances(db)
    return out


@pytest.fixture(scope='module')
def outcomes(request, crash_pool, one_move_templates, tmp_path_factory):
    """The kill points of the selected tests, running in the background."""
    base = tmp_path_factory.mktemp('kill-points')
    futures = {}
    for item in request.session.items:
        point = getattr(item, 'callspec', None) and \
            item.callspec.params.get('kill_point')
        if isinstance(point, KillPoint) and point.id not in futures:
            workdir = os.path.join(str(base), point.id)
            os.mkdir(workdir)
            futures[point.id] = crash_pool.submit(
                run_kill_point, point, one_move_templates[point.type],
                workdir)
    return futures


def subtask_states(events, name):
    return [e['state'] for e in events
            if e['kind'] == 'subtask' and e['name'] == name
            and e['state'] != 'PROGRESS']


def explain(out):
    return '\n'.join([
        'workdir: %s' % out['workdir'],
        'killed: %r' % out['killed'], 'recovery: %r' % out['recovery'],
        'audit: %r %s' % (out['audit'], out['audit'].stdout),
        'history: %s' % [(h['state'], h['reason'])
                         for h in out['doc']['history']],
        'subtasks: %s' % [(s['name'], [h['state'] for h in s['history']])
                          for s in out['doc']['subtasks']]])


@pytest.mark.parametrize('kill_point', POINTS, ids=[p.id for p in POINTS])
def test_kill_point(kill_point, outcomes, one_move_templates):
    point = kill_point
    out = outcomes[point.id].result()
    why = explain(out)
    template = one_move_templates[point.type]

    # The kill fired, in the middle of the move.
    assert out['killed'].returncode == -9, 'kill point not reached\n' + why
    assert out['after_kill']['state'] not in types_base.TERMINAL_STATES, why

    # The next conductor finished it, as the rules say; audit is clean.
    assert not out['recovery'].timed_out, 'recovery hangs\n' + why
    assert out['recovery'].returncode == 0, why
    doc = out['doc']
    assert doc['state'] == point.expected, why
    assert out['audit'].returncode == 0, why
    assert json.loads(out['audit'].stdout) == [], why
    instance = out['instances'][template['instance']]
    assert instance['move_id'] is None, why
    want_host = template['dest'] if doc['state'] == 'completed' \
        else template['source']
    assert instance['host'] == want_host, why

    # The history shows what happened to the interrupted step.
    old = [e for e in doc['events'] if e['id'] <= out['boundary']]
    new = [e for e in doc['events'] if e['id'] > out['boundary']]
    moves_new = [e for e in new if e['kind'] == 'move']
    done_before = [s['name'] for s in out['after_kill']['subtasks']
                   if s['state'] == 'SUCCESS']
    task_old = subtask_states(old, point.task)
    task_new = subtask_states(new, point.task)
    if doc['state'] == 'completed':
        assert doc['point_of_no_return'] is True
        assert 'reverting' not in [h['state'] for h in doc['history']], why
        assert task_new[-1] == 'SUCCESS', why
        if point.method == 'execute':
            # Re-run where it stopped: the interrupted step finished in the
            # new process; steps that had succeeded did not run again;
            # nothing was reverted.
            assert task_old[-1] == 'RUNNING', why
            # ... and the record shows it as taken up: a second attempt.
            assert task_new[0] == 'RUNNING', why
            for name in done_before:
                assert subtask_states(new, name) == [], (name, why)
            assert not [e for e in doc['events'] if e['state'] in (
                'REVERTING', 'REVERTED')], why
        else:
            # Killed while the cleanup's retry undid its steps: the new
            # process goes on with the retry (the steps run again and
            # succeed), never back past the point of no return.
            assert task_old[-1] == 'REVERTING', why
            for name in main_tasks(point.type):
                assert subtask_states(new, name) == [], (name, why)
            retry, = [s for s in doc['subtasks']
                      if s['name'] == 'RetryCleanup']
            assert retry['attempts'] >= 2, why
    else:
        # Reverted: everything that ran was undone by the new process, and
        # nothing ran forward any more.
        assert doc['point_of_no_return'] is False, why
        assert 'RUNNING' not in [e['state'] for e in new
                                 if e['kind'] == 'subtask'], why
        assert task_new and task_new[-1] == 'REVERTED', why
        assert [s['state'] for s in doc['subtasks']
                if s['state'] != 'REVERTED'] == [], why
        if point.method == 'revert':
            # Killed while reverting: the revert of the step is run (again)
            # by the new process (the reason: test_revert_reason_survives).
            assert task_old[-1] == 'REVERTING', why
            assert 'reverting' in [e['state'] for e in old
                                   if e['kind'] == 'move'], why
        else:
            # resume_policy = rollback: the step that was running is
            # reverted, with the policy as the reason.
            assert task_old[-1] == 'RUNNING', why
            assert 'resume_policy = rollback' in (doc['reason'] or ''), why
            assert [e['state'] for e in moves_new][-2:] == [
                'reverting', 'reverted'], why
    if os.environ.get('MO_TEST_CRASH_KEEP', '') in ('', '0'):
        shutil.rmtree(out['workdir'], ignore_errors=True)


REVERT_POINTS = [p for p in POINTS
                 if p.method == 'revert' and p.before_ponr]


@pytest.mark.parametrize('kill_point', REVERT_POINTS,
                         ids=[p.id for p in REVERT_POINTS])
def test_revert_reason_survives(kill_point, outcomes):
    """The move records why it reverted (the failed step and its error),
    as an uninterrupted revert does, though the kill came mid-revert."""
    out = outcomes[kill_point.id].result()
    doc = out['doc']
    assert doc['state'] == 'reverted', explain(out)
    assert doc['failed_step'] == kill_point.failing_task, explain(out)
    assert '%s failed: InjectedFault' % kill_point.failing_task in (
        doc['reason'] or ''), explain(out)


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
    workdir = str(tmp_path)
    db = os.path.join(workdir, 'mo.db')

    def run(runner):
        common.copy_database(template['template'], db)
        killed_conf = common.write_config(
            os.path.join(workdir, 'killed.conf'), db, {
                'conductor': {'resume_policy': point.policy},
                'fault_injection': {'task_faults': point.faults}})
        killed = runner.cli(workdir, 'killed', killed_conf, 'conductor',
                            '--until-idle')
        assert killed.returncode == -9, killed
        rewind_last_state_change(db, template['move'])
        recover_conf = common.write_config(
            os.path.join(workdir, 'recover.conf'), db, {
                'conductor': {'resume_policy': point.policy}})
        recovery = runner.cli(workdir, 'recover', recover_conf, 'conductor',
                              '--until-idle', '--poll', '0.02',
                              timeout=RECOVERY_TIMEOUT)
        audit = runner.cli(workdir, 'audit', recover_conf, 'audit')
        return recovery, audit

    recovery, audit = crash_pool.submit(run).result()
    assert recovery.returncode == 0 and not recovery.timed_out, recovery
    doc = common.read_tasks(db)[template['move']]
    assert doc['state'] == point.expected, (doc['reason'], doc['history'])
    assert audit.returncode == 0, audit.stdout


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
    workdir = str(tmp_path)
    db = os.path.join(workdir, 'mo.db')
    stage = 'main' if point.before_ponr else 'cleanup'

    def run(runner):
        common.copy_database(template['template'], db)
        killed_conf = common.write_config(
            os.path.join(workdir, 'killed.conf'), db, {
                'fault_injection': {'task_faults': point.faults}})
        killed = runner.cli(workdir, 'killed', killed_conf, 'conductor',
                            '--until-idle')
        assert killed.returncode == -9, killed
        empty_injector(db, template['move'], stage)
        recover_conf = common.write_config(
            os.path.join(workdir, 'recover.conf'), db)
        recovery = runner.cli(workdir, 'recover', recover_conf, 'conductor',
                              '--until-idle', '--poll', '0.02',
                              timeout=RECOVERY_TIMEOUT)
        audit = runner.cli(workdir, 'audit', recover_conf, 'audit')
        return recovery, audit

    recovery, audit = crash_pool.submit(run).result()
    assert recovery.returncode == 0 and not recovery.timed_out, recovery
    doc = common.read_tasks(db)[template['move']]
    assert doc['state'] == 'completed', doc['reason']
    assert audit.returncode == 0, audit.stdout


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
        faulty = common.write_config(
            os.path.join(workdir, 'faulty.conf'), db, {
                'conductor': {'resume_policy': policy},
                'fault_injection': {'task_faults': ['CopyDisk.execute=fail']}})
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
        fixed = common.write_config(
            os.path.join(workdir, 'fixed.conf'), db, {
                'conductor': {'resume_policy': policy}})
        recovery = runner.cli(workdir, 'recover', fixed, 'conductor',
                              '--until-idle', '--poll', '0.02',
                              timeout=RECOVERY_TIMEOUT)
        audit = runner.cli(workdir, 'audit', fixed, 'audit')
        return boundary, recovery, audit

    boundary, recovery, audit = crash_pool.submit(run).result()
    assert recovery.returncode == 0 and not recovery.timed_out, recovery
    doc = common.read_tasks(db)[move_id]
    ran = [e['name'] for e in doc['events'] if e['id'] > boundary
           and e['kind'] == 'subtask' and e['state'] == 'RUNNING']
    assert ran == [], 'steps run forward again: %s' % ran
    assert doc['state'] == 'reverted', doc['reason']
    instance = common.read_instances(db)[template['instance']]
    assert instance['host'] == template['source']
    assert audit.returncode == 0, audit.stdout
