"""The conductor service's RPC endpoints: a thin adapter over the service
layer (move_orchestrator.service), which validates the payload, checks
policy on the context that came over RPC and filters what the caller sees.

Typed errors are "expected": oslo.messaging sends them back without logging
a traceback, and the client rebuilds the same class.
"""

import functools

import oslo_messaging as messaging

from move_orchestrator.db import outage
from move_orchestrator import exception
from move_orchestrator.service import operations

# The newest RPC API version this server speaks; see rpcapi.MoveAPI.
RPC_API_VERSION = '1.5'

_expected = messaging.expected_exceptions(
    exception.MoveOrchestratorException)


def expected(method):
    """Typed errors go back to the caller as they are; a database
    outage met anywhere below becomes StorageUnavailable (one line, no
    traceback), as reads are refused at once while moves wait."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with outage.raising_typed():
            return method(*args, **kwargs)
    return _expected(wrapper)


class ConductorManager:
    target = messaging.Target(version=RPC_API_VERSION)

    def __init__(self, conductor_api, on_change=None, notifier=None):
        self.service = operations.MoveService(conductor_api)
        # notifications.MoveNotifier: the engine records "accepted" outside
        # its Recorder, so the notification of it is sent from here.
        self.notifier = notifier
        # on_change(move_id, interrupted) after a move was accepted, aborted,
        # resumed or reverted here, for a move runner in another process.
        self._on_change = on_change or (lambda move_id, interrupted: None)

    # -- moves ---------------------------------------------------------------
    @expected
    def move_instance(self, context, /, **payload):
        # Positional-only context: a payload key named "context" or "self"
        # is an unknown key like any other, not a TypeError.
        task = self.service.move_instance(context, **payload)
        self._on_change(task['id'], False)
        if self.notifier is not None and task['state'] == 'accepted' and \
                len(task['history']) == 1:
            self.notifier.emit(self.service.api.get_task(context, task['id']),
                               'accepted')
        return task

    @expected
    def get_task(self, context, task_id):
        return self.service.get_task(context, task_id)

    @expected
    def list_tasks(self, context, instance=None, state=None, limit=None,
                   marker=None, type=None, host=None):
        # type and host: 1.5
        return self.service.list_tasks(context, instance=instance,
                                       state=state, limit=limit,
                                       marker=marker, type=type, host=host)

    # -- operator actions (1.1) ----------------------------------------------
    def _act(self, context, action, task_id):
        task = getattr(self.service, action)(context, task_id)
        self._on_change(task_id, True)
        return task

    @expected
    def abort_task(self, context, task_id):
        return self._act(context, 'abort_task', task_id)

    @expected
    def resume_task(self, context, task_id):
        return self._act(context, 'resume_task', task_id)

    @expected
    def revert_task(self, context, task_id):
        return self._act(context, 'revert_task', task_id)

    @expected
    def force_complete(self, context, task_id):
        return self.service.force_complete(context, task_id)

    # -- inventory for operators (1.2) ---------------------------------------
    @expected
    def list_hosts(self, context):
        return self.service.list_hosts(context)

    @expected
    def set_host_state(self, context, host, state):
        return self.service.set_host_state(context, host, state)

    @expected
    def list_instances(self, context, host=None):
        return self.service.list_instances(context, host=host)

    @expected
    def list_flavors(self, context):
        return self.service.list_flavors(context)

    @expected
    def audit(self, context):
        return self.service.audit(context)

    # -- drains (1.3) --------------------------------------------------------
    @expected
    def drain_host(self, context, host, live=None):
        task = self.service.drain_host(context, host, live=live)
        self._on_change(task['id'], False)
        return task

    @expected
    def pause_task(self, context, task_id):
        return self._act(context, 'pause_task', task_id)

    # -- 1.4 -----------------------------------------------------------------
    @expected
    def get_host(self, context, host):
        return self.service.get_host(context, host)

    @expected
    def list_task_events(self, context, task_id, since=None, wait=None):
        return self.service.list_task_events(context, task_id, since=since,
                                             wait=wait)
