"""The conductor's API: what the CLI calls in-process and the RPC manager
serves. Every method takes a request context first, as OpenStack's do.
"""

import time

from move_orchestrator import audit
from move_orchestrator import exception
from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod
from move_orchestrator import states

DRAIN_POLL = 0.2


class ConductorAPI:
    def __init__(self, services=None, conductor=None):
        self.services = services or services_mod.Services()
        self.conductor = conductor or runner.Conductor(self.services)

    #: False: moves are only accepted here, another process runs them (the
    #: CLI's "move" without --wait, see cli/moves.py).
    run_here = True

    def move_instance(self, ctxt, instance, destination=None, flavor=None,
                      live=None, request_id=None):
        if self.run_here:
            self.conductor.start()
        return self.accept_move(ctxt, instance, destination=destination,
                                flavor=flavor, live=live,
                                request_id=request_id)

    def accept_move(self, ctxt, instance, destination=None, flavor=None,
                    live=None, request_id=None):
        """Validate and persist the move; the conductor that owns this
        database runs it (this process only if it is that conductor)."""
        request = {'instance': instance}
        for key, value in (('destination', destination), ('flavor', flavor),
                           ('live', live), ('request_id', request_id)):
            if value is not None:
                request[key] = value
        move = self.conductor.submit(request, context=ctxt)
        return self.services.records.get_task(move['id'])

    def get_task(self, ctxt, task_id):
        return self.services.records.get_task(task_id)

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None, move_type=None, host=None):
        if instance is not None:
            instance = self.services.inventory.get_instance(instance)['uuid']
        return self.services.records.list_tasks(
            instance=instance, state=state, limit=limit, marker=marker,
            move_type=move_type, host=host)

    def list_task_events(self, ctxt, task_id, since=None):
        return self.services.records.list_events(task_id, since=since)

    def drain_host(self, ctxt, host, live=None):
        """Move every instance off host, as one task of type ``drain``.

        The host is disabled first (a host that is down is evacuated); its
        instances become the drain's child moves, live where they run
        (unless ``live`` is False), cold otherwise, admitted within the
        limits. Returns the drain's document.
        """
        self.conductor.start()
        drain = self.conductor.drains.create(host, live=live, context=ctxt)
        self.conductor.resume_unfinished()
        return self.get_task(ctxt, drain['id'])

    def _is_drain(self, task_id):
        return self.services.drains.exists(task_id)

    def pause_task(self, ctxt, task_id):
        """Pause a drain: no new children start."""
        if not self._is_drain(task_id):
            self.services.store.get(task_id)   # TaskNotFound
            raise exception.InvalidTaskAction(
                task=task_id, action='paused',
                reason='only a drain can be paused; abort a move instead')
        self.conductor.drains.pause(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def abort_task(self, ctxt, task_id):
        self.conductor.start()
        if self._is_drain(task_id):
            self.conductor.drains.abort(task_id, context=ctxt)
            self.conductor.kick()
        else:
            self.conductor.abort(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def resume_task(self, ctxt, task_id):
        self.conductor.start()
        if self._is_drain(task_id):
            self.conductor.drains.resume(task_id, context=ctxt)
            self.conductor.kick()
        else:
            self.conductor.resume(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def revert_task(self, ctxt, task_id):
        if self._is_drain(task_id):
            raise exception.InvalidTaskAction(
                task=task_id, action='reverted',
                reason='a drain is aborted, not reverted: its finished '
                       'moves stay moved')
        self.conductor.start()
        self.conductor.revert(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def force_complete(self, ctxt, task_id):
        self.conductor.force_complete(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def wait_task(self, ctxt, task_id, timeout=None):
        if self._is_drain(task_id):
            return self._wait_drain(ctxt, task_id, timeout)
        move = self.conductor.wait(task_id, timeout=timeout)
        if move['state'] in states.TERMINAL_STATES:
            # Ended: read once, its history is final too.
            return self.services.records.document(move)
        return self.get_task(ctxt, task_id)

    def _wait_drain(self, ctxt, task_id, timeout):
        """Until the drain ends; its children run wherever the moves of
        this database run (here, if this process owns them)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc = self.get_task(ctxt, task_id)
            if doc['state'] in states.TERMINAL_STATES:
                return doc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError('drain %s is still %s'
                                   % (task_id, doc['state']))
            self.conductor.start()   # take over if its conductor is gone
            time.sleep(DRAIN_POLL)

    # -- inventory and health, for operators -------------------------------
    def list_hosts(self, ctxt):
        inventory = self.services.inventory
        return [dict(h, used=inventory.host_usage(h['name']))
                for h in inventory.list_hosts()]

    def get_host(self, ctxt, host):
        inventory = self.services.inventory
        return dict(inventory.get_host(host), used=inventory.host_usage(host))

    def set_host_state(self, ctxt, host, state):
        self.services.inventory.set_host_state(host, state)
        return self.services.inventory.get_host(host)

    def list_instances(self, ctxt, host=None):
        return self.services.inventory.list_instances(host=host)

    def list_flavors(self, ctxt):
        return self.services.inventory.list_flavors()

    def audit(self, ctxt):
        return audit.audit(self.services)

    def shutdown(self, wait=True):
        self.conductor.shutdown(wait=wait)
