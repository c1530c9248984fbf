"""The one service layer: what it refuses, what an owner sees, and that
RPC, REST and the CLI expose the same operations."""

import inspect

from oslo_config import cfg
import pytest
from stevedore import extension

from move_orchestrator.api import routes as api_routes
from move_orchestrator import context
from move_orchestrator import exception
from move_orchestrator import manager
from move_orchestrator import policy
from move_orchestrator.service import operations
from move_orchestrator.service import validation
from move_orchestrator.service import views

ADMIN = context.get_admin_context()
OWNER = context.get_context('u-owner', 'demo', roles=['member'])
OTHER = context.get_context('u-other', 'p-other', roles=['member'])

# CLI commands that are not operations of the service layer: running the
# embedded conductor, the demo, drawing a flow, following a task (get_task
# in a loop).
# instance show: list_instances, one picked by name or uuid.
NOT_OPERATIONS = {'demo', 'conductor', 'graph', 'task watch',
                  'instance show'}
CLI_OPERATIONS = {
    'move': 'move_instance', 'task show': 'get_task',
    'task list': 'list_tasks', 'task events': 'list_task_events',
    'task abort': 'abort_task', 'task resume': 'resume_task',
    'task revert': 'revert_task', 'task force-complete': 'force_complete',
    'host list': 'list_hosts', 'host show': 'get_host',
    'host set': 'set_host_state', 'instance list': 'list_instances',
    'flavor list': 'list_flavors', 'audit': 'audit',
    'drain': 'drain_host', 'host drain': 'drain_host',
    'task pause': 'pause_task',
}


def test_rpc_manager_exposes_every_operation_and_no_other():
    public = {n for n, f in inspect.getmembers(manager.ConductorManager,
                                               inspect.isfunction)
              if not n.startswith('_')}
    assert public == set(operations.OPERATIONS)


def test_rest_routes_expose_every_operation_and_no_other():
    assert api_routes.operations() == set(operations.OPERATIONS)


def test_cli_commands_expose_every_operation():
    mgr = extension.ExtensionManager('move_orchestrator.cli')
    commands = {e.name.replace('_', ' '): e.plugin for e in mgr}
    assert set(commands) == set(CLI_OPERATIONS) | NOT_OPERATIONS
    assert set(CLI_OPERATIONS.values()) == set(operations.OPERATIONS)
    for name, op in CLI_OPERATIONS.items():
        source = inspect.getsource(commands[name])
        action = getattr(commands[name], 'action', None)
        assert action == op or '.%s(' % op in source, name


@pytest.mark.parametrize('name,params,cls', [
    ('move_instance', {}, exception.InvalidMoveRequest),
    ('move_instance', {'instance': ''}, exception.InvalidMoveRequest),
    ('move_instance', {'instance': 'vm1', 'live': 'yes'},
     exception.InvalidMoveRequest),
    ('move_instance', {'instance': 'vm1', '0': None},
     exception.InvalidMoveRequest),
    ('move_instance', {'instance': 'vm1', 'x' * 9000: 1},
     exception.InvalidMoveRequest),
    ('move_instance', {'instance': 'vm1', 'zz\n' * 50: 1},
     exception.InvalidMoveRequest),
    ('list_tasks', {'limit': 0}, exception.InvalidParameter),
    ('list_tasks', {'marker': 'x' * 300}, exception.InvalidParameter),
    ('set_host_state', {'host': 'h', 'state': 'sideways' * 100},
     exception.InvalidParameter),
    ('get_task', {'task_id': ' \t'}, exception.InvalidParameter),
])
def test_refusals_are_typed_one_line_and_bounded(name, params, cls):
    with pytest.raises(cls) as err:
        validation.validate(name, params)
    message = err.value.message
    assert '\n' not in message and len(message) < 200, message
    # The message is rebuilt from kwargs on the other side of RPC.
    assert type(err.value)(**err.value.kwargs).message == message


def test_refusal_names_the_parameter():
    with pytest.raises(exception.InvalidParameter) as err:
        validation.validate('set_host_state', {'host': 'h', 'state': 'x'})
    assert err.value.kwargs['name'] == 'state'
    assert 'up, down, disabled' in err.value.message
    with pytest.raises(exception.InvalidMoveRequest) as err:
        validation.validate('move_instance', {'instance': 'vm1',
                                              'destination': 7})
    assert 'destination must be string or null, not 7' in err.value.message


@pytest.fixture
def enforcer():
    conf = cfg.ConfigOpts()
    conf([], project='move-orchestrator')
    policy.reset()
    yield policy.init(conf)    # the defaults in code, no policy file
    policy.reset()


@pytest.fixture
def cloud(make_cloud, enforcer):
    # host4 fails to start a live migration: the move reverts.
    return make_cloud(driver_faults=['start_migration@host4=fail'],
                      compute__driver='fake')


@pytest.fixture
def service(cloud):
    return operations.MoveService(cloud.api)


def test_owner_sees_no_host_traceback_or_error_text(cloud, service):
    task = service.move_instance(ADMIN, 'vm1', destination='host4')
    full = cloud.api.wait_task(ADMIN, task['id'])
    assert full['state'] == 'reverted' and full['reason']
    seen = service.get_task(OWNER, task['id'])   # vm1's project is demo
    assert seen['state'] == 'reverted'
    assert [h['state'] for h in seen['history']] == \
        [h['state'] for h in full['history']]
    assert [s['name'] for s in seen['subtasks']] == \
        [s['name'] for s in full['subtasks']]
    text = repr(seen)
    for secret in ('host1', 'host4', 'Traceback', 'traceback',
                   'Injected fault', full['reason']):
        assert secret not in text, secret
    failed = [s for s in seen['subtasks'] if s['error']]
    assert failed and failed[0]['error'] == {'type': 'InjectedFault'}
    assert service.get_task(ADMIN, task['id']) == full
    events = service.list_task_events(OWNER, task['id'])
    assert events and 'host4' not in repr(events)
    assert 'host4' in repr(service.list_task_events(ADMIN, task['id']))
    with pytest.raises(exception.Forbidden):
        service.get_task(OTHER, task['id'])
    assert [t['id'] for t in service.list_tasks(OWNER, instance='vm1')] \
        == [task['id']]
    assert 'host4' not in repr(service.list_tasks(OWNER, instance='vm1'))


def test_owner_view_keeps_only_listed_fields():
    doc = {'id': 't', 'instance': 'i', 'type': 'resize', 'state': 's',
           'source': 'h1', 'destination': 'h2', 'new_field': 'h3',
           'flavors': {}, 'request': {'destination': 'h2', 'live': True},
           'history': [], 'actions': [], 'subtasks': []}
    view = views.owner_task(doc)
    assert 'h1' not in repr(view) and 'h2' not in repr(view)
    assert 'h3' not in repr(view)
    assert view['request'] == {'live': True}


def test_task_of_another_instance_is_not_found(cloud, service):
    task = service.move_instance(ADMIN, 'vm1', destination='host3')
    cloud.api.wait_task(ADMIN, task['id'])
    assert service.get_task(ADMIN, task['id'], instance='vm1')['id'] == \
        task['id']
    with pytest.raises(exception.TaskNotFound):
        service.get_task(ADMIN, task['id'], instance='vm2')
    with pytest.raises(exception.TaskNotFound):
        service.abort_task(ADMIN, task['id'], instance='vm2')


def test_refused_requests_write_nothing(cloud, service):
    before = cloud.snapshot()
    for call in (lambda: service.move_instance(OWNER, 'vm1'),
                 lambda: service.move_instance(ADMIN, 'vm1', live='x'),
                 lambda: service.set_host_state(OWNER, 'host1', 'down'),
                 lambda: service.set_host_state(ADMIN, 'host1', 'gone'),
                 lambda: service.list_tasks(ADMIN, marker='nope')):
        with pytest.raises(exception.MoveOrchestratorException):
            call()
    assert cloud.snapshot() == before
