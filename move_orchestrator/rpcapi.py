"""Client side of the conductor service's RPC API, for the compute API.

API version history:

    * 1.0 - Initial version: move_instance, get_task, list_tasks (filters by
            instance and state, limit and marker paging).
    * 1.1 - Operator actions on moves: abort_task, resume_task, revert_task,
            force_complete.
    * 1.2 - Inventory calls for operators' tools: list_hosts,
            set_host_state, list_instances, list_flavors, audit.
    * 1.3 - Host drains as one task: drain_host returns a task of type
            ``drain``; pause_task pauses a drain; abort_task and
            resume_task take a drain's id too; get_task and list_tasks
            return drains beside moves, and a move's document says what it
            waits for (``waiting``) within the concurrency limits.
    * 1.4 - get_host; list_task_events (a task's events after an event id,
            optionally waiting for the first one).
    * 1.5 - list_tasks filters by move type (``type``) and by host
            (``host``, either end of a move) in the database query, so
            that ``limit`` pages are full.

During a rolling upgrade, ``[upgrade_levels] conductor`` caps what this
client sends so that conductors of the older release understand it; a method
newer than the cap raises ServiceTooOld here, before anything is sent.
"""

from move_orchestrator.conf import CONF
from move_orchestrator import exception
from move_orchestrator import rpc

VERSION = '1.4'


class MoveAPI:
    """What a compute API imports to move instances.

    Every method takes a RequestContext first; policy is checked by the
    conductor against it. Errors arrive as move_orchestrator.exception
    classes (InstanceNotFound, InstanceBusy, NoValidHost, ...).
    """

    VERSION_ALIASES = {}

    def __init__(self, conf=CONF, transport=None, timeout=None):
        self.conf = conf
        self.transport = transport or rpc.get_rpc_transport(conf)
        cap = conf.upgrade_levels.conductor
        self.version_cap = self.VERSION_ALIASES.get(cap, cap)
        self.client = rpc.get_client(self.transport, rpc.client_target(
            '1.0'), version_cap=self.version_cap, timeout=timeout)

    def _prepare(self, method, version):
        if not self.client.can_send_version(version):
            raise exception.ServiceTooOld(method=method, needed=version,
                                          pinned=self.version_cap)
        return self.client.prepare(version=version)

    # -- 1.0 -----------------------------------------------------------------
    def move_instance(self, ctxt, instance_uuid, destination=None,
                      flavor=None, live=None, request_id=None):
        """Start a move; returns its task document once the move is
        accepted and persisted (state ``accepted``). Poll get_task after.

        The same ``request_id`` returns the same task instead of a second
        move.
        """
        payload = {'instance': instance_uuid}
        for key, value in (('destination', destination), ('flavor', flavor),
                           ('live', live), ('request_id', request_id)):
            if value is not None:
                payload[key] = value
        return self._prepare('move_instance', '1.0').call(
            ctxt, 'move_instance', **payload)

    def get_task(self, ctxt, task_id):
        return self._prepare('get_task', '1.0').call(
            ctxt, 'get_task', task_id=task_id)

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None, type=None, host=None):
        """Newest first; pass the last task's id as ``marker`` for the next
        page. ``type`` and ``host`` need a 1.5 conductor."""
        kwargs = dict(instance=instance, state=state, limit=limit,
                      marker=marker)
        version = '1.0'
        if type is not None or host is not None:
            kwargs.update(type=type, host=host)
            version = '1.5'
        return self._prepare('list_tasks', version).call(
            ctxt, 'list_tasks', **kwargs)

    # -- 1.1 -----------------------------------------------------------------
    def _task_action(self, ctxt, method, task_id):
        return self._prepare(method, '1.1').call(ctxt, method,
                                                 task_id=task_id)

    def abort_task(self, ctxt, task_id):
        return self._task_action(ctxt, 'abort_task', task_id)

    def resume_task(self, ctxt, task_id):
        return self._task_action(ctxt, 'resume_task', task_id)

    def revert_task(self, ctxt, task_id):
        return self._task_action(ctxt, 'revert_task', task_id)

    def force_complete(self, ctxt, task_id):
        return self._task_action(ctxt, 'force_complete', task_id)

    # -- 1.2 -----------------------------------------------------------------
    def list_hosts(self, ctxt):
        return self._prepare('list_hosts', '1.2').call(ctxt, 'list_hosts')

    def set_host_state(self, ctxt, host, state):
        return self._prepare('set_host_state', '1.2').call(
            ctxt, 'set_host_state', host=host, state=state)

    def list_instances(self, ctxt, host=None):
        return self._prepare('list_instances', '1.2').call(
            ctxt, 'list_instances', host=host)

    def list_flavors(self, ctxt):
        return self._prepare('list_flavors', '1.2').call(ctxt,
                                                         'list_flavors')

    def audit(self, ctxt):
        return self._prepare('audit', '1.2').call(ctxt, 'audit')

    # -- 1.3 -----------------------------------------------------------------
    def drain_host(self, ctxt, host, live=None):
        """Disable host and move every instance off it, as one task of
        type ``drain`` (its document: progress and each child's state)."""
        return self._prepare('drain_host', '1.3').call(
            ctxt, 'drain_host', host=host, live=live)

    def pause_task(self, ctxt, task_id):
        """Pause a drain: no new children start until it is resumed."""
        return self._prepare('pause_task', '1.3').call(ctxt, 'pause_task',
                                                       task_id=task_id)

    # -- 1.4 -----------------------------------------------------------------
    def get_host(self, ctxt, host):
        return self._prepare('get_host', '1.4').call(ctxt, 'get_host',
                                                     host=host)

    def list_task_events(self, ctxt, task_id, since=None, wait=None):
        """Events of the task after the event id ``since``; with ``wait``,
        up to that many seconds for the first one."""
        return self._prepare('list_task_events', '1.4').call(
            ctxt, 'list_task_events', task_id=task_id, since=since,
            wait=wait)

    def cleanup(self):
        self.transport.cleanup()
