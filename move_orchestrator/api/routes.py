"""The resources: one table of routes, each mapped to operations of the
service layer. The OpenAPI document (openapi.py) is generated from it."""

import collections

from move_orchestrator.api import schemas

Route = collections.namedtuple(
    'Route', 'method path name operations status query body envelope '
             'summary')

# Path parameters -> the service's parameter names.
PATH_PARAMS = {'server_id': 'instance', 'task_id': 'task_id',
               'host': 'host'}
ACTION_OPS = tuple(schemas.ACTION_OPERATIONS.values())
SERVER_TASKS = '/v1/servers/{server_id}/tasks'

ROUTES = (
    Route('POST', SERVER_TASKS, 'createServerTask', ('move_instance',), 202,
          (), schemas.MOVE_BODY, 'task',
          'Move the server: the answer is the accepted task; poll its '
          'Location. An Idempotency-Key returns the task it made before.'),
    Route('GET', SERVER_TASKS, 'listServerTasks', ('list_tasks',), 200,
          ('state', 'type', 'limit', 'marker'), None, 'tasks',
          'The server\'s tasks, newest first.'),
    Route('GET', SERVER_TASKS + '/{task_id}', 'showServerTask',
          ('get_task',), 200, (), None, 'task',
          'A task of the server: state, history, steps (404 for a task '
          'of another server).'),
    Route('POST', SERVER_TASKS + '/{task_id}/action', 'actOnServerTask',
          ACTION_OPS, 202, (), schemas.ACTION_BODY, 'task',
          'abort, resume, revert, force_complete or pause (a drain) the '
          'task.'),
    Route('GET', '/v1/tasks', 'listTasks', ('list_tasks',), 200,
          ('state', 'type', 'host', 'limit', 'marker'), None, 'tasks',
          'Every task, newest first (administrators).'),
    Route('GET', '/v1/tasks/{task_id}', 'showTask', ('get_task',), 200, (),
          None, 'task', 'A task, whichever server it moves.'),
    Route('POST', '/v1/tasks/{task_id}/action', 'actOnTask', ACTION_OPS,
          202, (), schemas.ACTION_BODY, 'task',
          'abort, resume, revert, force_complete or pause (a drain) the '
          'task.'),
    Route('GET', '/v1/tasks/{task_id}/events', 'listTaskEvents',
          ('list_task_events',), 200, ('since', 'wait'), None, 'events',
          'The task\'s events after the event id "since"; with "wait", '
          'up to that many seconds for the first one (a long poll).'),
    Route('POST', '/v1/drains', 'createDrain', ('drain_host',), 202, (),
          schemas.DRAIN_BODY, 'task',
          'Disable a host and move every instance off it, as one task of '
          'type drain (show it, pause, resume or abort it as a task).'),
    Route('GET', '/v1/hosts', 'listHosts', ('list_hosts',), 200, (), None,
          'hosts', 'Hosts, their state and usage.'),
    Route('GET', '/v1/hosts/{host}', 'showHost', ('get_host',), 200, (),
          None, 'host', 'A host, its state and usage.'),
    Route('PUT', '/v1/hosts/{host}', 'updateHost', ('set_host_state',), 200,
          (), schemas.HOST_BODY, 'host',
          'Set a host up, down (its instances can be evacuated) or '
          'disabled.'),
    Route('GET', '/v1/instances', 'listInstances', ('list_instances',), 200,
          ('host',), None, 'instances', 'Instances and their hosts.'),
    Route('GET', '/v1/flavors', 'listFlavors', ('list_flavors',), 200, (),
          None, 'flavors', 'Flavors.'),
    Route('GET', '/v1/audit', 'runAudit', ('audit',), 200, (), None,
          'problems', 'Check inventory, hypervisor and claims agree.'),
)


def operations():
    """Every service operation some route exposes."""
    return {op for route in ROUTES for op in route.operations}
