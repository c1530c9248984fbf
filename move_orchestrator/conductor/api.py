"""The conductor's API: what the CLI calls in-process and the RPC manager
serves. Every method takes a request context first, as OpenStack's do.
"""

from move_orchestrator import audit
from move_orchestrator import exception
from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod


class ConductorAPI:
    def __init__(self, services=None, conductor=None):
        self.services = services or services_mod.Services()
        self.conductor = conductor or runner.Conductor(self.services)

    def move_instance(self, ctxt, instance, destination=None, flavor=None,
                      live=None, request_id=None):
        request = {'instance': instance}
        for key, value in (('destination', destination), ('flavor', flavor),
                           ('live', live), ('request_id', request_id)):
            if value is not None:
                request[key] = value
        self.conductor.start()
        move = self.conductor.submit(request, context=ctxt)
        return self.services.records.get_task(move['id'])

    def get_task(self, ctxt, task_id):
        return self.services.records.get_task(task_id)

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None):
        if instance is not None:
            instance = self.services.inventory.get_instance(instance)['uuid']
        return self.services.records.list_tasks(
            instance=instance, state=state, limit=limit, marker=marker)

    def drain_host(self, ctxt, host, live=None):
        """Move every instance off host (a maintenance drain).

        The host is disabled first so that no move lands on it; each
        instance is then one move of its own type, run concurrently up to
        the conductor's limit. Instances that cannot move are reported, not
        skipped silently.
        """
        self.services.inventory.get_host(host)
        self.services.inventory.set_host_state(host, 'disabled')
        self.conductor.start()
        moved, refused = [], []
        for inst in self.services.inventory.list_instances(host=host):
            try:
                move = self.conductor.submit(
                    {'instance': inst['uuid'], 'live': live} if live
                    is not None else {'instance': inst['uuid']},
                    context=ctxt)
                moved.append(self.services.records.get_task(move['id']))
            except exception.MoveOrchestratorException as exc:
                refused.append({'instance': inst['uuid'], 'name': inst['name'],
                                'error': exc.to_dict()})
        return {'host': host, 'tasks': moved, 'refused': refused}

    def abort_task(self, ctxt, task_id):
        self.conductor.start()
        self.conductor.abort(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def resume_task(self, ctxt, task_id):
        self.conductor.start()
        self.conductor.resume(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def revert_task(self, ctxt, task_id):
        self.conductor.start()
        self.conductor.revert(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def force_complete(self, ctxt, task_id):
        self.conductor.force_complete(task_id, context=ctxt)
        return self.get_task(ctxt, task_id)

    def wait_task(self, ctxt, task_id, timeout=None):
        self.conductor.wait(task_id, timeout=timeout)
        return self.get_task(ctxt, task_id)

    # -- inventory and health, for operators -------------------------------
    def list_hosts(self, ctxt):
        inventory = self.services.inventory
        return [dict(h, used=inventory.host_usage(h['name']))
                for h in inventory.list_hosts()]

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
