"""The CLI's backend when ``transport_url`` is set: the conductor service,
over RPC, with the same method names as the in-process ConductorAPI.

The CLI is an operators' tool: calls go with an admin context (roles
``admin``) unless the caller passes a context that carries roles.

Every call gives up after ``rpc_response_timeout``: oslo.messaging's own
timeout starts only once the request is sent, and while the broker cannot be
reached its driver retries the connection for ever.
"""

import threading
import time

import oslo_messaging as messaging

from move_orchestrator import context as mo_context
from move_orchestrator import exception
from move_orchestrator import redact
from move_orchestrator import rpcapi
from move_orchestrator import states

POLL_INTERVAL = 0.2


class _Deadline:
    """Calls ``api``'s methods in a daemon thread, for at most timeout s."""

    def __init__(self, api, timeout, url):
        self._api, self._timeout, self._url = api, timeout, url
        self.abandoned = False

    def __getattr__(self, name):
        method = getattr(self._api, name)

        def call(*args, **kwargs):
            outcome = {}

            def run():
                try:
                    outcome['result'] = method(*args, **kwargs)
                except BaseException as e:  # handed to the caller below
                    outcome['error'] = e
            worker = threading.Thread(target=run, daemon=True,
                                      name='rpc-%s' % name)
            worker.start()
            worker.join(self._timeout)
            if worker.is_alive():
                self.abandoned = True
                raise exception.ServiceUnreachable(
                    timeout=self._timeout,
                    reason='the message broker at %s cannot be reached'
                    % redact.url(self._url))
            if isinstance(outcome.get('error'), messaging.MessagingTimeout):
                raise exception.ServiceUnreachable(
                    timeout=self._timeout,
                    reason='no conductor service answered on %s'
                    % redact.url(self._url)) from outcome['error']
            if 'error' in outcome:
                raise outcome['error']
            return outcome['result']
        return call


class RemoteClient:
    def __init__(self, conf, api=None):
        self.conf = conf
        timeout = conf.rpc_response_timeout
        self._rpc = api or rpcapi.MoveAPI(conf, timeout=timeout)
        self.api = _Deadline(self._rpc, timeout, conf.transport_url)
        self.context = mo_context.get_admin_context()

    def _ctxt(self, ctxt):
        return ctxt if getattr(ctxt, 'roles', None) else self.context

    def move_instance(self, ctxt, instance, destination=None, flavor=None,
                      live=None, request_id=None):
        return self.api.move_instance(
            self._ctxt(ctxt), instance, destination=destination,
            flavor=flavor, live=live, request_id=request_id)

    def get_task(self, ctxt, task_id):
        return self.api.get_task(self._ctxt(ctxt), task_id)

    def list_tasks(self, ctxt, instance=None, state=None, limit=None,
                   marker=None, type=None, host=None):
        return self.api.list_tasks(self._ctxt(ctxt), instance=instance,
                                   state=state, limit=limit, marker=marker,
                                   type=type, host=host)

    def wait_task(self, ctxt, task_id, timeout=None):
        """Poll until the task ends (the service runs it, not us)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc = self.get_task(ctxt, task_id)
            if doc['state'] in states.TERMINAL_STATES:
                return doc
            if deadline is not None and time.monotonic() > deadline:
                raise exception.InvalidTaskAction(
                    task=task_id, action='waited for',
                    reason='still %s after %s s' % (doc['state'], timeout))
            time.sleep(POLL_INTERVAL)

    def abort_task(self, ctxt, task_id):
        return self.api.abort_task(self._ctxt(ctxt), task_id)

    def resume_task(self, ctxt, task_id):
        return self.api.resume_task(self._ctxt(ctxt), task_id)

    def revert_task(self, ctxt, task_id):
        return self.api.revert_task(self._ctxt(ctxt), task_id)

    def force_complete(self, ctxt, task_id):
        return self.api.force_complete(self._ctxt(ctxt), task_id)

    def drain_host(self, ctxt, host, live=None):
        return self.api.drain_host(self._ctxt(ctxt), host, live=live)

    def pause_task(self, ctxt, task_id):
        return self.api.pause_task(self._ctxt(ctxt), task_id)

    def list_hosts(self, ctxt):
        return self.api.list_hosts(self._ctxt(ctxt))

    def set_host_state(self, ctxt, host, state):
        return self.api.set_host_state(self._ctxt(ctxt), host, state)

    def list_instances(self, ctxt, host=None):
        return self.api.list_instances(self._ctxt(ctxt), host=host)

    def list_flavors(self, ctxt):
        return self.api.list_flavors(self._ctxt(ctxt))

    def get_host(self, ctxt, host):
        return self.api.get_host(self._ctxt(ctxt), host)

    def list_task_events(self, ctxt, task_id, since=None, wait=None):
        return self.api.list_task_events(self._ctxt(ctxt), task_id,
                                         since=since, wait=wait)

    def audit(self, ctxt):
        return self.api.audit(self._ctxt(ctxt))

    def shutdown(self, wait=True):
        """Close the connection to the broker; the service keeps running.
        A connection still trying to reach the broker is left to die with
        the process."""
        if not self.api.abandoned:
            self._rpc.cleanup()
