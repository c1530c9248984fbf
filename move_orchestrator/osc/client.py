"""A client of the task API over HTTP (keystoneauth1), with the method
names of the service layer's operations, so that the CLI's command classes
run unchanged against it."""

from keystoneauth1 import adapter

from move_orchestrator.api import errors
from move_orchestrator.api import microversion
from move_orchestrator import exception
from move_orchestrator import states

_BY_CODE = {errors.PREFIX + code: cls
            for cls, (code, _status) in errors.ERRORS.items()}


class Client:
    embedded = False
    context = None      # the caller is the session's

    def __init__(self, session, endpoint, headers=None):
        self.http = adapter.Adapter(
            session, service_type='move', endpoint_override=endpoint,
            additional_headers=dict(
                headers or {}, **{microversion.HEADER: '%s 1.0'
                                  % microversion.SERVICE}))

    def _call(self, method, path, body=None, headers=None, params=None):
        resp = self.http.request(path, method, json=body, headers=headers,
                                 params=params, raise_exc=False)
        data = resp.json() if resp.content else None
        if resp.status_code >= 400:
            error = ((data or {}).get('errors') or [{}])[0]
            cls = _BY_CODE.get(error.get('code'),
                               exception.MoveOrchestratorException)
            raise cls(message=error.get('detail') or
                      'HTTP %d' % resp.status_code)
        return data

    # -- moves ---------------------------------------------------------------
    def move_instance(self, ctxt, instance, destination=None, flavor=None,
                      live=None, request_id=None):
        move = {k: v for k, v in (('host', destination), ('flavor', flavor),
                                  ('live', live)) if v is not None}
        headers = {'Idempotency-Key': request_id} if request_id else None
        return self._call('POST', '/v1/servers/%s/tasks' % instance,
                          {'move': move}, headers)['task']

    def get_task(self, ctxt, task_id):
        return self._call('GET', '/v1/tasks/%s' % task_id)['task']

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None, type=None, host=None):
        params = {k: v for k, v in (('state', state), ('limit', limit),
                                    ('marker', marker), ('type', type),
                                    ('host', host)) if v is not None}
        path = '/v1/servers/%s/tasks' % instance if instance else \
            '/v1/tasks'
        return self._call('GET', path, params=params)['tasks']

    def list_task_events(self, ctxt, task_id, since=None, wait=None):
        params = {k: v for k, v in (('since', since), ('wait', wait))
                  if v is not None}
        return self._call('GET', '/v1/tasks/%s/events' % task_id,
                          params=params)['events']

    def _action(self, task_id, action):
        return self._call('POST', '/v1/tasks/%s/action' % task_id,
                          {action: None})['task']

    def abort_task(self, ctxt, task_id):
        return self._action(task_id, 'abort')

    def resume_task(self, ctxt, task_id):
        return self._action(task_id, 'resume')

    def revert_task(self, ctxt, task_id):
        return self._action(task_id, 'revert')

    def force_complete(self, ctxt, task_id):
        return self._action(task_id, 'force_complete')

    def pause_task(self, ctxt, task_id):
        return self._action(task_id, 'pause')

    def drain_host(self, ctxt, host, live=None):
        drain = {'host': host}
        if live is not None:
            drain['live'] = live
        return self._call('POST', '/v1/drains', {'drain': drain})['task']

    def wait_task(self, ctxt, task_id, timeout=None):
        """Follow the task's events until it ends (a long poll)."""
        since = None
        while True:
            doc = self.get_task(ctxt, task_id)
            if doc['state'] in states.TERMINAL_STATES:
                return doc
            events = self.list_task_events(ctxt, task_id, since=since,
                                           wait=5)
            if events:
                since = events[-1]['id']

    # -- inventory -------------------------------------------------------------
    def list_hosts(self, ctxt):
        return self._call('GET', '/v1/hosts')['hosts']

    def get_host(self, ctxt, host):
        return self._call('GET', '/v1/hosts/%s' % host)['host']

    def set_host_state(self, ctxt, host, state):
        return self._call('PUT', '/v1/hosts/%s' % host,
                          {'host': {'state': state}})['host']

    def list_instances(self, ctxt, host=None):
        params = {'host': host} if host else None
        return self._call('GET', '/v1/instances', params=params)['instances']

    def list_flavors(self, ctxt):
        return self._call('GET', '/v1/flavors')['flavors']

    def audit(self, ctxt):
        return self._call('GET', '/v1/audit')['problems']

    def close(self):
        pass
