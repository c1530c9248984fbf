"""The conductor service's RPC endpoints.

Each call is checked here, on the server: the payload's shape first (a
malformed one is refused before anything is read or written), then policy
on the context that came over RPC, then the ConductorAPI does the work.
Typed errors are "expected": oslo.messaging sends them back without logging
a traceback, and the client rebuilds the same class.
"""

import oslo_messaging as messaging
from oslo_serialization import jsonutils

from move_orchestrator import exception
from move_orchestrator.moves import request as move_request
from move_orchestrator import policy

# The newest RPC API version this server speaks; see rpcapi.MoveAPI.
RPC_API_VERSION = '1.3'
MAX_PAYLOAD = 4096
MAX_ID = 255
MAX_LIMIT = 1000
NOBODY = {'project_id': '<no owner>'}

expected = messaging.expected_exceptions(exception.MoveOrchestratorException)


def check_str(name, value, required=True, max_len=MAX_ID):
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise exception.InvalidParameter(name=name,
                                         reason='must be a non-empty string')
    if len(value) > max_len:
        raise exception.InvalidParameter(
            name=name, reason='longer than %d characters' % max_len)


def check_limit(limit):
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= MAX_LIMIT:
        raise exception.InvalidParameter(
            name='limit', reason='must be an integer from 1 to %d'
            % MAX_LIMIT)


def check_move_payload(payload):
    """The move request's shape (moves.request), after a size bound so
    that an oversized payload is not echoed back in the error."""
    try:
        size = len(jsonutils.dumps(payload))
    except (TypeError, ValueError):
        raise exception.InvalidMoveRequest(reason='payload is not JSON')
    if size > MAX_PAYLOAD:
        raise exception.InvalidMoveRequest(
            reason='payload of %d bytes is larger than %d'
            % (size, MAX_PAYLOAD))
    move_request.validate_request(payload)


class ConductorManager:
    target = messaging.Target(version=RPC_API_VERSION)

    def __init__(self, conductor_api, on_change=None, notifier=None):
        self.api = conductor_api
        # notifications.MoveNotifier: the engine records "accepted" outside
        # its Recorder, so the notification of it is sent from here.
        self.notifier = notifier
        # on_change(move_id, interrupted) after a move was accepted, aborted,
        # resumed or reverted here, for a move runner in another process.
        self._on_change = on_change or (lambda move_id, interrupted: None)

    # -- owners --------------------------------------------------------------
    def _instance_owner(self, instance):
        try:
            found = self.api.services.inventory.get_instance(instance)
        except exception.InstanceNotFound:
            return NOBODY
        return {'project_id': found['project_id'] or NOBODY['project_id']}

    def _task(self, context, action, task_id):
        """The task, once the caller may do ``action`` on it. A drain has
        no instance: its owner is nobody (administrators only)."""
        check_str('task_id', task_id)
        task = self.api.get_task(context, task_id)
        policy.authorize(context, action, NOBODY if task['instance'] is None
                         else self._instance_owner(task['instance']))
        return task

    # -- moves ---------------------------------------------------------------
    @expected
    def move_instance(self, context, /, **payload):
        # Positional-only context: a payload key named "context" or "self"
        # is an unknown key like any other, not a TypeError.
        check_move_payload(payload)
        instance = self.api.services.inventory.get_instance(
            payload['instance'])
        policy.authorize(context, 'move:create',
                         {'project_id': instance['project_id']
                          or NOBODY['project_id']})
        # A known request_id returns its task (the engine looks it up first).
        task = self.api.move_instance(context, **payload)
        self._on_change(task['id'], False)
        if self.notifier is not None and task['state'] == 'accepted' and \
                len(task['history']) == 1:
            self.notifier.emit(task, 'accepted')
        return task

    @expected
    def get_task(self, context, task_id):
        return self._task(context, 'task:get', task_id)

    @expected
    def list_tasks(self, context, instance=None, state=None, limit=None,
                   marker=None):
        check_str('instance', instance, required=False)
        check_str('state', state, required=False, max_len=64)
        check_str('marker', marker, required=False)
        check_limit(limit)
        target = NOBODY if instance is None else self._instance_owner(
            instance)
        policy.authorize(context, 'task:list', target)
        return self.api.list_tasks(context, instance=instance, state=state,
                                   limit=limit, marker=marker)

    # -- operator actions (1.1) ----------------------------------------------
    @expected
    def abort_task(self, context, task_id):
        self._task(context, 'task:abort', task_id)
        task = self.api.abort_task(context, task_id)
        self._on_change(task_id, True)
        return task

    @expected
    def resume_task(self, context, task_id):
        self._task(context, 'task:resume', task_id)
        task = self.api.resume_task(context, task_id)
        self._on_change(task_id, True)
        return task

    @expected
    def revert_task(self, context, task_id):
        self._task(context, 'task:revert', task_id)
        task = self.api.revert_task(context, task_id)
        self._on_change(task_id, True)
        return task

    @expected
    def force_complete(self, context, task_id):
        self._task(context, 'task:force_complete', task_id)
        return self.api.force_complete(context, task_id)

    # -- inventory for operators (1.2) ---------------------------------------
    @expected
    def list_hosts(self, context):
        policy.authorize(context, 'host:list', NOBODY)
        return self.api.list_hosts(context)

    @expected
    def set_host_state(self, context, host, state):
        check_str('host', host)
        check_str('state', state, max_len=64)
        policy.authorize(context, 'host:update', NOBODY)
        return self.api.set_host_state(context, host, state)

    @expected
    def list_instances(self, context, host=None):
        check_str('host', host, required=False)
        policy.authorize(context, 'instance:list', NOBODY)
        return self.api.list_instances(context, host=host)

    @expected
    def list_flavors(self, context):
        policy.authorize(context, 'flavor:list', NOBODY)
        return self.api.list_flavors(context)

    @expected
    def audit(self, context):
        policy.authorize(context, 'audit:run', NOBODY)
        return self.api.audit(context)

    # -- drains (1.3) --------------------------------------------------------
    @expected
    def drain_host(self, context, host, live=None):
        check_str('host', host)
        if live not in (None, True, False):
            raise exception.InvalidParameter(name='live',
                                             reason='must be a boolean')
        policy.authorize(context, 'host:drain', NOBODY)
        task = self.api.drain_host(context, host, live=live)
        self._on_change(task['id'], False)
        return task

    @expected
    def pause_task(self, context, task_id):
        self._task(context, 'task:pause', task_id)
        task = self.api.pause_task(context, task_id)
        self._on_change(task_id, True)
        return task
