"""Operators' controls: abort, resume, revert, force-complete; resumption
policy after a conductor stops mid-move."""

import contextlib
import subprocess
import sys
import time
import uuid

from oslo_context import context as oslo_context
import pytest

from move_orchestrator.conductor import api as api_mod
from move_orchestrator import exception
from move_orchestrator.moves import types as move_types

ALICE = oslo_context.RequestContext(user_id='alice', project_id='ops',
                                    is_admin=True)


def wait_state(cloud, task_id, states, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = cloud.api.get_task(None, task_id)
        if doc['state'] in states:
            return doc
        time.sleep(0.01)
    raise AssertionError('task never reached %s: %s' % (states, doc['state']))


def slow_live(make_cloud, **kw):
    """A live migration that takes a while to converge."""
    return make_cloud(fake_driver__migration_steps=400,
                      conductor__poll_interval=0.005, **kw)


def test_abort_during_memory_transfer(make_cloud):
    cloud = slow_live(make_cloud)
    doc = cloud.api.move_instance(ALICE, 'vm1', destination='host3')
    wait_state(cloud, doc['id'], ['migrating-memory'])
    cloud.api.abort_task(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == 'reverted'
    assert 'aborted by alice' in doc['reason']
    assert [(a['action'], a['user_id'], a['project_id'])
            for a in doc['actions']] == [('abort', 'alice', 'ops')]
    assert cloud.world('vm1')['migration']['status'] == 'cancelled'
    assert cloud.instance('vm1')['host'] == 'host1'
    assert cloud.audit() == []


def test_abort_between_steps(make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.05)
    doc = cloud.api.move_instance(ALICE, 'vm2', destination='host3')
    wait_state(cloud, doc['id'], ['transferring', 'copying-disk'])
    cloud.api.abort_task(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == 'reverted'
    assert doc['reason'] == 'aborted by alice'
    assert cloud.audit() == []


def test_abort_after_point_of_no_return_is_refused(make_cloud):
    cloud = make_cloud(conductor__cleanup_retry_delay=1.0,
                       task_faults=['DestroySource.execute=fail_once'])
    doc = cloud.api.move_instance(ALICE, 'vm2', destination='host3')
    wait_state(cloud, doc['id'], ['cleaning-up'])
    with pytest.raises(exception.InvalidTaskAction,
                       match='point of no return'):
        cloud.api.abort_task(ALICE, doc['id'])
    assert cloud.api.wait_task(None, doc['id'])['state'] == 'completed'


def test_abort_of_finished_move_is_refused(cloud):
    doc = cloud.move('vm2', destination='host3')
    with pytest.raises(exception.InvalidTaskAction, match='completed'):
        cloud.api.abort_task(ALICE, doc['id'])


def failed_revert(make_cloud):
    cloud = make_cloud(task_faults=['CopyDisk.execute=fail',
                                    'BindDestinationPorts.revert=fail'])
    doc = cloud.move('vm2', destination='host3')
    assert doc['state'] == 'failed'
    cloud.services.task_faults.clear()      # the operator fixed the cause
    return cloud, doc


def test_revert_of_failed_move(make_cloud):
    cloud, doc = failed_revert(make_cloud)
    cloud.api.revert_task(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == 'reverted', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['revert']
    states = [h['state'] for h in doc['history']]
    assert states[-3:] == ['failed', 'reverting', 'reverted']
    assert cloud.audit() == []


def test_resume_of_failed_move(make_cloud):
    cloud, doc = failed_revert(make_cloud)
    cloud.api.resume_task(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['resume']
    assert cloud.instance('vm2')['host'] == 'host3'
    assert cloud.audit() == []


def test_resume_after_point_of_no_return(make_cloud):
    cloud = make_cloud(conductor__cleanup_attempts=2,
                       task_faults=['UnbindSourcePorts.execute=fail'])
    doc = cloud.move('vm1', destination='host3')
    assert doc['state'] == 'failed' and doc['point_of_no_return']
    with pytest.raises(exception.InvalidTaskAction, match='resume it'):
        cloud.api.revert_task(ALICE, doc['id'])
    cloud.services.task_faults.clear()
    cloud.api.resume_task(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == 'completed', doc['reason']
    assert cloud.audit() == []


@pytest.mark.parametrize('action,end', [('resume', 'completed'),
                                        ('revert', 'reverted')])
def test_failed_with_no_failed_step(make_cloud, action, end):
    """A move its conductor could not carry on (its records unwritable, say)
    ends failed with no step to blame: an operator can still resume it
    (where its steps stopped) or revert it."""
    cloud = make_cloud(fake_driver__operation_delay=0.02)
    source = cloud.instance('vm2')['host']
    doc = _interrupted_move(cloud)
    cloud.api.conductor.recorder.fire(
        doc['id'], 'fail', reason='the conductor could not run the move')
    _restart(cloud)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['state'] == 'failed' and not doc.get('failed_step')
    getattr(cloud.api, '%s_task' % action)(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'])
    assert doc['state'] == end, doc['reason']
    # Every change it went through is one its machine lists; a resume
    # goes on from a step after the ones that had succeeded.
    states = [h['state'] for h in doc['history']]
    allowed = {(a, b) for a, _, b in
               move_types.get(doc['type']).transitions()}
    assert all(pair in allowed for pair in zip(states, states[1:])), states
    after = states[states.index('failed') + 1]
    assert after not in ('accepted', 'claiming', 'pre-checking')
    assert (after == 'reverting') == (action == 'revert')
    assert cloud.instance('vm2')['host'] == (
        'host3' if end == 'completed' else source)
    assert cloud.audit() == []


def test_resume_of_running_move_is_refused(cloud):
    doc = cloud.move('vm2', destination='host3')
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.resume_task(ALICE, doc['id'])
    with pytest.raises(exception.TaskNotFound):
        cloud.api.revert_task(ALICE, 'no-such-task')


def test_force_complete(make_cloud):
    cloud = make_cloud(fake_driver__migration_steps=100000,
                       conductor__poll_interval=0.005)
    doc = cloud.api.move_instance(ALICE, 'vm1', destination='host3')
    wait_state(cloud, doc['id'], ['migrating-memory'])
    while not cloud.world('vm1')['migration']:
        time.sleep(0.01)    # the copy has started
    cloud.api.force_complete(ALICE, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=30)
    assert doc['state'] == 'completed'
    assert [a['action'] for a in doc['actions']] == ['force-complete']


def test_force_complete_of_cold_move_is_refused(cloud):
    doc = cloud.move('vm2', destination='host3')
    with pytest.raises(exception.InvalidTaskAction, match='not a live'):
        cloud.api.force_complete(ALICE, doc['id'])


@pytest.mark.parametrize('policy,end', [('resume', 'completed'),
                                        ('rollback', 'reverted')])
def test_resume_policy_after_conductor_stops(make_cloud, policy, end):
    cloud = make_cloud(fake_driver__operation_delay=0.02,
                       conductor__resume_policy=policy)
    doc = cloud.api.move_instance(ALICE, 'vm2', destination='host3')
    wait_state(cloud, doc['id'], ['transferring', 'copying-disk'])
    # The conductor stops (SIGTERM): the move is left half done.
    cloud.api.conductor.suspend_all()
    cloud.api.shutdown()
    assert cloud.api.get_task(None, doc['id'])['state'] not in (
        'completed', 'reverted', 'failed')
    # The next conductor takes it up by itself.
    cloud.api = api_mod.ConductorAPI(cloud.services)
    assert cloud.api.conductor.start()
    doc = cloud.api.wait_task(None, doc['id'], timeout=30)
    assert doc['state'] == end, doc['reason']
    if policy == 'rollback':
        assert 'resume_policy = rollback' in doc['reason']
    assert cloud.audit() == []


def test_one_conductor_per_database(cloud):
    """Another process cannot run this database's moves; it can still
    accept them, and the owner runs them."""
    code = (
        'import sys\n'
        'from move_orchestrator.conf import CONF\n'
        'CONF([], project="move-orchestrator")\n'
        'CONF.set_override("connection", sys.argv[1], group="database")\n'
        'from move_orchestrator.conductor import runner, services\n'
        'c = runner.Conductor(services.Services())\n'
        'print(c.start())\n'
        'm = c.submit({"instance": "vm2", "destination": "host3"})\n'
        'print(c.wait(m["id"], timeout=60)["state"])\n')
    out = subprocess.run([sys.executable, '-c', code, cloud.url],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ['False', 'completed'], out.stderr
    assert cloud.instance('vm2')['host'] == 'host3'


def _interrupted_move(cloud):
    """A move that a stopped conductor left in transfer."""
    doc = cloud.api.move_instance(ALICE, 'vm2', destination='host3')
    wait_state(cloud, doc['id'], ['transferring', 'copying-disk'])
    cloud.api.conductor.suspend_all()
    cloud.api.shutdown()
    return doc


def _restart(cloud):
    cloud.api = api_mod.ConductorAPI(cloud.services)
    assert cloud.api.conductor.start()


def test_changed_flow_definition_ends_failed(make_cloud):
    from taskflow.persistence import models as tf_models
    cloud = make_cloud(fake_driver__operation_delay=0.02)
    doc = _interrupted_move(cloud)
    backend = cloud.services.persistence
    with contextlib.closing(backend.get_connection()) as conn:
        book = conn.get_logbook(doc['id'])
        main = [fd for fd in book if fd.name == 'main'][0]
        main.add(tf_models.TaskDetail('CopyDiskV1', uuid=str(uuid.uuid4())))
        conn.update_flow_details(main)
    _restart(cloud)
    doc = cloud.api.wait_task(None, doc['id'], timeout=30)
    assert doc['state'] == 'failed'
    assert 'flow definition changed' in doc['reason']
    assert 'CopyDiskV1' in doc['reason']


def test_corrupt_record_ends_failed(make_cloud):
    cloud = make_cloud(fake_driver__operation_delay=0.02)
    doc = _interrupted_move(cloud)
    cloud.services.store.update(doc['id'], type='teleport')
    _restart(cloud)
    doc = cloud.api.wait_task(None, doc['id'], timeout=30)
    assert doc['state'] == 'failed'
    assert 'teleport' in doc['reason']


def test_abort_of_a_move_not_started_yet(cloud):
    """Accepted while no conductor runs it, aborted, then taken up."""
    cloud.api.conductor.shutdown()          # this database has no owner
    move = cloud.api.conductor.submit({'instance': 'vm2',
                                       'destination': 'host3'})
    cloud.api.conductor.abort(move['id'], context=ALICE)
    _restart(cloud)
    doc = cloud.api.wait_task(None, move['id'], timeout=30)
    assert doc['state'] == 'reverted'
    assert doc['reason'] == 'aborted by alice'
    assert doc['subtasks'] == []
    assert cloud.audit() == []
