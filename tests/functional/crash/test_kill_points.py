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
* after the point of no return (cleanup; for a live migration, from the
  convergence of its memory copy on) the move completes either way;
* a move killed while reverting finishes its revert, either way.

352 kill points in all (176 per policy; killpoints.py). The crash windows
that no fault point reaches are in test_crash_windows.py.

Each kill point has a database of its own, copied from a seeded template;
the killed run, the recovery and the audit are separate processes. Kill
points run two at a time (MO_TEST_CRASH_WORKERS) through fork servers; see
forkserver.py. The outcome of each is computed in the background as soon
as the session starts these tests; each test asserts its own.
"""

import json
import os
import shutil

import pytest

from move_orchestrator.moves.types import base as types_base
from tests.functional.crash import common
from tests.functional.crash.killpoints import KillPoint
from tests.functional.crash.killpoints import main_tasks
from tests.functional.crash.killpoints import RECOVERY_TIMEOUT
from tests.functional.crash import killpoints

# One xdist worker runs them all: ``outcomes`` computes every kill point
# of the session's items in the background, so a second worker running
# some of them would compute the whole matrix again.
pytestmark = pytest.mark.xdist_group('kill-points')

POINTS = killpoints.kill_points()
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
