"""The API in a real WSGI server on loopback (the one move-orchestrator-api
runs), over a simulated cloud in a real database."""

import threading
import time

from oslo_config import cfg
import requests

from move_orchestrator.api import server
from move_orchestrator.conf import CONF
from move_orchestrator import policy
from move_orchestrator import states
from tests import harness as cloud_harness
from tests.functional.rpc import harness as rpc_harness

ADMIN = {'X-User-Id': 'u-admin', 'X-Project-Id': 'admin',
         'X-Roles': 'admin'}
OWNER = {'X-User-Id': 'u-owner', 'X-Project-Id': 'p-owner',
         'X-Roles': 'member'}
OTHER = {'X-User-Id': 'u-other', 'X-Project-Id': 'p-other',
         'X-Roles': 'member'}

# As the RPC tests' service: moves to host-faulty revert; on host-bad1/2
# the disk copy and then the revert's disk deletion fail once (the move
# ends "failed"); a live migration to host-slow stays in flight.
FAULTS = ['copy_disk@host-faulty=fail', 'copy_disk@host-bad1=fail_once',
          'delete_disk@host-bad1=fail_once', 'copy_disk@host-bad2=fail_once',
          'delete_disk@host-bad2=fail_once',
          'prepare_incoming@host-slow=slow']
EXTRA_HOSTS = ('host-bad1', 'host-bad2', 'host-slow')


class Client:
    """Requests to an API served at ``url``, as a caller (noauth headers)."""

    def __init__(self, url):
        self.url = url
        self.session = requests.Session()

    def close(self):
        self.session.close()

    def call(self, method, path, who=ADMIN, body=None, headers=None,
             **kwargs):
        url = path if path.startswith('http') else self.url + path
        return self.session.request(method, url, json=body,
                                    headers=dict(who, **(headers or {})),
                                    timeout=60, **kwargs)

    def move(self, server_id, who=ADMIN, headers=None, **move):
        return self.call('POST', '/v1/servers/%s/tasks' % server_id, who,
                         body={'move': move}, headers=headers)

    def wait(self, location, who=ADMIN, timeout=60):
        """Poll the task's Location until it ends; its last document."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.call('GET', location, who)
            assert resp.status_code == 200, resp.text
            task = resp.json()['task']
            if task['state'] in states.TERMINAL_STATES:
                return task
            assert time.monotonic() < deadline, task['state']
            time.sleep(0.05)


class ApiServer(Client):
    """The API served in this process over a simulated cloud."""

    def __init__(self, url):
        conf = cfg.ConfigOpts()
        conf([], project='move-orchestrator')
        policy.reset()
        policy.init(conf)       # the defaults in code
        self.cloud = cloud_harness.Cloud(
            url, seed=False, driver_faults=FAULTS,
            fake_driver__operation_delay=0.002, compute__driver='fake')
        self.services = self.cloud.services
        self.hosts = rpc_harness.seed(self.services)
        for name in EXTRA_HOSTS:
            self.services.inventory.create_host(
                name, vcpus=4096, ram_mb=4096 * 1024, disk_gb=1024 * 1024,
                cpu_model='Cascadelake', storage_group='local-' + name)
        self.httpd = server.make_server(
            server.make_app(CONF, api=self.cloud.api), '127.0.0.1', 0)
        super().__init__('http://127.0.0.1:%d'
                         % self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        super().close()
        self.cloud.close()
        policy.reset()

    def boot(self, host='host1', project_id='p-owner', **kwargs):
        return rpc_harness.boot(self.services, host, project_id=project_id,
                                **kwargs)

    def settle(self, timeout=60):
        """Until no move runs (an accepted one writes as it goes)."""
        deadline = time.monotonic() + timeout
        while any(m['state'] != states.FAILED
                  for m in self.services.store.list_unfinished()):
            assert time.monotonic() < deadline, 'moves still running'
            time.sleep(0.02)

    def snapshot(self):
        return self.cloud.snapshot()
