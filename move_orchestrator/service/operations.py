"""MoveService: every operation defined once, as parameters (a JSON
Schema), a policy rule and the ConductorAPI call.

``OPERATIONS`` lists them; the RPC manager, the REST routes and the CLI's
commands each expose exactly this set (tests/unit/test_service.py).
"""

import collections
import time

from move_orchestrator import exception
from move_orchestrator import policy
from move_orchestrator.service import schemas
from move_orchestrator.service import validation
from move_orchestrator.service import views

NOBODY = {'project_id': '<no owner>'}
EVENT_POLL = 0.2

Operation = collections.namedtuple('Operation', 'name rule params response')

OPERATIONS = {}


def _define(name, rule):
    OPERATIONS[name] = Operation(name, rule, schemas.PARAMS[name],
                                 schemas.RESPONSES[name])


for _name, _rule in (
        ('move_instance', 'move:create'), ('get_task', 'task:get'),
        ('list_tasks', 'task:list'), ('list_task_events', 'task:get'),
        ('abort_task', 'task:abort'), ('resume_task', 'task:resume'),
        ('revert_task', 'task:revert'),
        ('force_complete', 'task:force_complete'),
        ('pause_task', 'task:pause'), ('drain_host', 'host:drain'),
        ('list_hosts', 'host:list'), ('get_host', 'host:list'),
        ('set_host_state', 'host:update'),
        ('list_instances', 'instance:list'), ('list_flavors', 'flavor:list'),
        ('audit', 'audit:run')):
    _define(_name, _rule)


def _given(**params):
    """The parameters a caller set; None is "not given"."""
    return {k: v for k, v in params.items() if v is not None}


class MoveService:
    def __init__(self, conductor_api):
        self.api = conductor_api

    # -- the three decisions -------------------------------------------------
    def _check(self, name, params):
        validation.validate(name, params)
        return params

    def _authorize(self, ctxt, name, target=NOBODY):
        policy.authorize(ctxt, OPERATIONS[name].rule, target)

    def _owner(self, instance_uuid):
        try:
            found = self.api.services.inventory.get_instance(instance_uuid)
        except exception.InstanceNotFound:
            return NOBODY
        return {'project_id': found['project_id'] or NOBODY['project_id']}

    @staticmethod
    def _is_admin(ctxt):
        return policy.check_is_admin(ctxt)

    def _task_view(self, ctxt, doc):
        return doc if self._is_admin(ctxt) else views.owner_task(doc)

    def _task(self, ctxt, name, task_id, instance=None):
        """The task once the caller may do ``name`` on it; a task of
        another instance than ``instance`` is not found."""
        self._check(name, _given(task_id=task_id, instance=instance))
        task = self.api.get_task(ctxt, task_id)
        if instance is not None and task['instance'] != \
                self._instance_uuid(instance):
            raise exception.TaskNotFound(task=task_id)
        # A drain has no instance: its owner is nobody (administrators).
        self._authorize(ctxt, name, NOBODY if task['instance'] is None
                        else self._owner(task['instance']))
        return task

    def _instance_uuid(self, ref):
        try:
            return self.api.services.inventory.get_instance(ref)['uuid']
        except exception.InstanceNotFound:
            return None

    # -- moves ---------------------------------------------------------------
    def move_instance(self, ctxt, instance=None, /, **request):
        """Start a move; ``instance`` positional or in the request (RPC's
        payload: an unknown key, even "ctxt", is refused as such)."""
        if instance is not None:
            request = dict(request, instance=instance)
        # Nulls dropped after the check: an unknown key is refused whatever
        # its value.
        request = _given(**self._check('move_instance', request))
        found = self.api.services.inventory.get_instance(request['instance'])
        self._authorize(ctxt, 'move_instance',
                        {'project_id': found['project_id']
                         or NOBODY['project_id']})
        # A known request_id returns its task (the engine looks it up).
        return self._task_view(ctxt, self.api.move_instance(ctxt, **request))

    def get_task(self, ctxt, task_id, instance=None):
        return self._task_view(ctxt, self._task(ctxt, 'get_task', task_id,
                                                instance))

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None, type=None, host=None):
        self._check('list_tasks', _given(
            instance=instance, state=state, limit=limit, marker=marker,
            type=type, host=host))
        # An owner lists their instance's tasks; every task, or those of a
        # host (where instances run), is for administrators.
        target = NOBODY if instance is None or host is not None else \
            self._owner(instance)
        self._authorize(ctxt, 'list_tasks', target)
        if marker is not None:
            try:
                self.api.get_task(ctxt, marker)
            except exception.TaskNotFound:
                raise exception.MarkerNotFound(task=marker)
        docs = self.api.list_tasks(ctxt, instance=instance, state=state,
                                   limit=limit, marker=marker,
                                   move_type=type, host=host)
        return [self._task_view(ctxt, d) for d in docs]

    def list_task_events(self, ctxt, task_id, instance=None, since=None,
                         wait=None):
        """Events after ``since``; with ``wait``, up to that many seconds
        for the first one (a long poll)."""
        self._check('list_task_events', _given(
            task_id=task_id, instance=instance, since=since, wait=wait))
        self._task(ctxt, 'list_task_events', task_id, instance)
        deadline = time.monotonic() + (wait or 0)
        while True:
            events = self.api.list_task_events(ctxt, task_id, since=since)
            if events or time.monotonic() >= deadline:
                break
            time.sleep(min(EVENT_POLL, max(0, deadline - time.monotonic())))
        if self._is_admin(ctxt):
            return events
        return [views.owner_event(e) for e in events]

    # -- operators' actions on moves -----------------------------------------
    def _action(self, ctxt, name, task_id, instance):
        self._task(ctxt, name, task_id, instance)
        return self._task_view(ctxt, getattr(self.api, name)(ctxt, task_id))

    def abort_task(self, ctxt, task_id, instance=None):
        return self._action(ctxt, 'abort_task', task_id, instance)

    def resume_task(self, ctxt, task_id, instance=None):
        return self._action(ctxt, 'resume_task', task_id, instance)

    def revert_task(self, ctxt, task_id, instance=None):
        return self._action(ctxt, 'revert_task', task_id, instance)

    def force_complete(self, ctxt, task_id, instance=None):
        return self._action(ctxt, 'force_complete', task_id, instance)

    def pause_task(self, ctxt, task_id, instance=None):
        return self._action(ctxt, 'pause_task', task_id, instance)

    # -- drains ----------------------------------------------------------------
    def drain_host(self, ctxt, host, live=None):
        """Disable the host and move every instance off it: one task."""
        self._check('drain_host', _given(host=host, live=live))
        self._authorize(ctxt, 'drain_host')
        return self.api.drain_host(ctxt, host, live=live)

    # -- inventory, for operators ----------------------------------------------
    def list_hosts(self, ctxt):
        self._authorize(ctxt, 'list_hosts')
        return self.api.list_hosts(ctxt)

    def get_host(self, ctxt, host):
        self._check('get_host', {'host': host})
        self._authorize(ctxt, 'get_host')
        return self.api.get_host(ctxt, host)

    def set_host_state(self, ctxt, host, state):
        self._check('set_host_state', {'host': host, 'state': state})
        self._authorize(ctxt, 'set_host_state')
        return self.api.set_host_state(ctxt, host, state)

    def list_instances(self, ctxt, host=None):
        self._check('list_instances', _given(host=host))
        self._authorize(ctxt, 'list_instances')
        return self.api.list_instances(ctxt, host=host)

    def list_flavors(self, ctxt):
        self._authorize(ctxt, 'list_flavors')
        return self.api.list_flavors(ctxt)

    def audit(self, ctxt):
        self._authorize(ctxt, 'audit')
        return self.api.audit(ctxt)

    # -- not operations: the embedded conductor's own --------------------------
    def wait_task(self, ctxt, task_id, timeout=None):
        """Until the task ends, in the process that runs it (CLI)."""
        self._task(ctxt, 'get_task', task_id)
        return self._task_view(ctxt, self.api.wait_task(ctxt, task_id,
                                                        timeout=timeout))
