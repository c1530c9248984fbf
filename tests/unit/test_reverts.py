"""A failure in every task of every move type reverts the move cleanly;
a failing revert ends ``failed`` with the step and the reason; after the
point of no return (the end of switch-over; a live migration's convergence)
the steps are retried and never reverted.
"""

import pytest

from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base

# (type, instance, request, source) of one move per type.
SCENARIOS = {
    'live-migrate': ('vm1', {'destination': 'host3'}, 'host1'),
    'cold-migrate': ('vm2', {'destination': 'host3'}, 'host2'),
    'resize': ('vm3', {'destination': 'host4', 'flavor': 'm1.medium'},
               'host1'),
    'evacuate': ('vm4', {'destination': 'host3'}, 'host2'),
    'live-resize': ('vm1', {'destination': 'host1', 'flavor': 'm1.wide'},
                    'host1'),
}


def _tasks(type_name, phases, stage=types_base.MAIN):
    return [s.cls.__name__ for s in move_types.get(type_name).stage_steps(stage)
            if s.cls.phase in phases]


MAIN = [(t, task) for t in SCENARIOS
        for task in _tasks(t, ('claim', 'pre-check', 'transfer',
                               'switch-over'))]
CLEANUP = [(t, task) for t in SCENARIOS
           for task in _tasks(t, types_base.PHASES, types_base.CLEANUP)]
# The step whose success is the point of no return, where the world passes
# it before the step ends (a live migration switched over at convergence).
PONR_STEPS = [(t, move_types.get(t).ponr_after) for t in SCENARIOS
              if move_types.get(t).ponr_after]


def run(make_cloud, type_name, **cloud_kwargs):
    cloud = make_cloud(**cloud_kwargs)
    name, request, source = SCENARIOS[type_name]
    if type_name == 'evacuate':
        cloud.services.inventory.set_host_state(source, 'down')
    before = cloud.instance(name)
    doc = cloud.move(name, **request)
    assert doc['type'] == type_name
    return cloud, doc, before


def assert_reverted(cloud, doc, before):
    assert doc['state'] == 'reverted', doc['reason']
    after = cloud.instance(before['name'])
    assert after == before      # host, flavor, power state, no move lock
    world = cloud.world(before['name'])
    assert list(world['domains']) == [before['host']]
    assert list(world['disks']) == [before['host']]
    assert world['bindings'] == {before['host']: True}
    assert cloud.claims_of(doc['id']) == []
    assert cloud.audit() == []
    flavor = cloud.services.inventory.get_flavor(before['flavor'])
    assert not list(driver_base.size_mismatches(world, before['host'],
                                                flavor))


@pytest.mark.parametrize('type_name,task', MAIN)
def test_failure_in_execute_reverts(make_cloud, type_name, task):
    cloud, doc, before = run(make_cloud, type_name,
                             task_faults=['%s.execute=fail' % task])
    assert_reverted(cloud, doc, before)
    assert doc['failed_step'] == task
    assert 'InjectedFault' in doc['reason']
    states = [h['state'] for h in doc['history']]
    assert states[-2:] == ['reverting', 'reverted']
    failed = [s for s in doc['subtasks'] if s['name'] == task][0]
    assert failed['error']['type'] == 'InjectedFault'
    assert failed['state'] == 'REVERTED'
    assert not doc['point_of_no_return']


@pytest.mark.parametrize('type_name,task', [p for p in MAIN
                                            if p not in PONR_STEPS])
def test_failure_after_execute_reverts(make_cloud, type_name, task):
    """The task did its work, then failed: its revert must undo it."""
    cloud, doc, before = run(make_cloud, type_name,
                             task_faults=['%s.execute.after=fail' % task])
    assert_reverted(cloud, doc, before)


@pytest.mark.parametrize('type_name', sorted(SCENARIOS))
def test_driver_failure_reverts(make_cloud, type_name):
    op = {'live-migrate': 'start_migration', 'cold-migrate': 'copy_disk',
          'resize': 'spawn', 'evacuate': 'create_disk',
          'live-resize': 'hotplug'}[type_name]
    dest = SCENARIOS[type_name][1]['destination']
    cloud, doc, before = run(make_cloud, type_name,
                             driver_faults=['%s@%s=fail' % (op, dest)])
    assert_reverted(cloud, doc, before)


@pytest.mark.parametrize('type_name,task', PONR_STEPS)
def test_failure_past_the_ponr_rolls_forward(make_cloud, type_name, task):
    """The step failed after the world passed its point of no return: run
    again, not reverted; the late failure stays in its history."""
    cloud, doc, before = run(make_cloud, type_name,
                             task_faults=['%s.execute.after=fail_once' % task])
    assert doc['state'] == 'completed', doc['reason']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    sub = [s for s in doc['subtasks'] if s['name'] == task][0]
    assert 'FAILURE' in [h['state'] for h in sub['history']]
    assert cloud.audit() == []


@pytest.mark.parametrize('type_name,task', PONR_STEPS)
def test_failing_again_past_the_ponr_ends_failed(make_cloud, type_name,
                                                 task):
    """Failing again: failed past the point of no return (a revert is
    refused), and a resume completes it."""
    cloud, doc, before = run(make_cloud, type_name,
                             task_faults=['%s.execute.after=fail' % task])
    assert doc['state'] == 'failed', doc['reason']
    assert doc['point_of_no_return'] is True
    assert 'past the point of no return' in doc['reason']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    cloud.services.task_faults.clear()
    cloud.api.resume_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    assert cloud.audit() == []


@pytest.mark.parametrize('type_name', sorted(SCENARIOS))
def test_failing_revert_ends_failed(make_cloud, type_name):
    steps = _tasks(type_name, ('transfer', 'switch-over'))
    last, reverting = steps[-1], steps[0]
    cloud, doc, before = run(
        make_cloud, type_name,
        task_faults=['%s.execute=fail' % last,
                     '%s.revert=fail' % reverting])
    assert doc['state'] == 'failed'
    assert doc['failed_step'] == reverting
    assert 'revert of %s failed' % reverting in doc['reason']
    assert 'after %s failed' % last in doc['reason']
    sub = [s for s in doc['subtasks'] if s['name'] == reverting][0]
    assert sub['state'] == 'REVERT_FAILURE'
    # The instance stays held for the operator, and audit says why.
    assert cloud.instance(before['name'])['move_id'] == doc['id']
    problems = cloud.audit()
    assert [p['move'] for p in problems] == [doc['id']]
    assert 'resume or revert' in problems[0]['problem']


@pytest.mark.parametrize('type_name,task', CLEANUP)
def test_cleanup_failure_is_retried_then_fails(make_cloud, type_name, task):
    cloud, doc, before = run(make_cloud, type_name,
                             conductor__cleanup_attempts=3,
                             task_faults=['%s.execute=fail' % task])
    assert doc['state'] == 'failed'
    assert doc['point_of_no_return'] is True
    assert doc['failed_step'] == task
    assert 'gave up after 3 attempts' in doc['reason']
    sub = [s for s in doc['subtasks'] if s['name'] == task][0]
    assert sub['attempts'] == 3
    # Rolled forward: the instance runs (or stays stopped) on the
    # destination with the new flavor, nothing was reverted (the inventory
    # follows once the step that updates it has run).
    dest = SCENARIOS[type_name][1]['destination']
    after = cloud.instance(before['name'])
    if task in _tasks(type_name, ('cleanup',), types_base.CLEANUP):
        assert after['host'] == dest
    world = cloud.world(before['name'])
    want = 'running' if before['power_state'] == 'running' else 'shutoff'
    assert world['domains'][dest]['state'] == want
    assert 'reverting' not in [h['state'] for h in doc['history']]


@pytest.mark.parametrize('type_name,task', CLEANUP)
def test_transient_cleanup_failure_is_retried(make_cloud, type_name, task):
    cloud, doc, before = run(make_cloud, type_name,
                             task_faults=['%s.execute=fail_once' % task])
    assert doc['state'] == 'completed', doc['reason']
    sub = [s for s in doc['subtasks'] if s['name'] == task][0]
    assert sub['attempts'] == 2
    assert cloud.audit() == []
