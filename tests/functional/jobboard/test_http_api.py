"""The task API over HTTP in front of conductor services: a real
``move-orchestrator-api`` process configured with the conductors' database
and Redis jobboard only posts the moves it accepts; a conductor service
claims and runs them, whatever ``[api] run_moves`` says (that option is the
embedded mode's, where no conductor runs the database's moves)."""

import configparser
import os
import re
import signal
import subprocess

import pytest

from tests.functional.api import harness as api_harness
from tests.functional.rpc import harness


class ApiProcess:
    """``move-orchestrator-api`` with the config file of ``conductor``
    (same database, same board), under a host name of its own, on a port
    the system picks."""

    def __init__(self, workdir, conductor, run_moves):
        config = configparser.ConfigParser(interpolation=None)
        config.read(conductor.config)
        config['DEFAULT']['host'] = 'api'
        config['api'] = {'run_moves': str(run_moves).lower(),
                         'bind_port': '0'}
        self.config = os.path.join(str(workdir), 'api.conf')
        self.log = os.path.join(str(workdir), 'api.log')
        with open(self.config, 'w') as f:
            config.write(f)
        self.proc = None
        self.client = None

    def start(self, timeout=60):
        with open(self.log, 'wb') as out:
            self.proc = subprocess.Popen(
                [os.path.join(harness.BIN, 'move-orchestrator-api'),
                 '--config-file', self.config],
                stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        url = harness.wait_for(lambda: self._serving(), timeout=timeout)
        self.client = api_harness.Client(url)
        return self

    def _serving(self):
        found = re.search(r'serving on (http://\S+?)/?$', self.log_text(),
                          re.M)
        if found:
            return found.group(1)
        assert self.proc.poll() is None, 'the API exited:\n%s' % (
            self.log_text()[-4000:])
        return None

    @property
    def name(self):
        """This process as a claim would name it (claims.conductor_name)."""
        return 'api.%d' % self.proc.pid

    def log_text(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def stop(self):
        if self.client is not None:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)   # serve_forever returns
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _claimed_by(client, task_id):
    """Who claimed the task's move, from its document over HTTP."""
    resp = client.call('GET', '/v1/tasks/%s' % task_id)
    assert resp.status_code == 200, resp.text
    task = resp.json()['task']
    return task['conductor'], [c['conductor'] for c in task['claims']]


@pytest.mark.parametrize('run_moves', [True, False],
                         ids=['run_moves', 'no_run_moves'])
def test_api_posts_the_moves_a_conductor_service_runs(cluster, tmp_path,
                                                      run_moves):
    with cluster(count=1, expiry=3.0, delay=0.02) as c:
        conductor = c.conductors[0]
        api = ApiProcess(tmp_path, conductor, run_moves)
        try:
            api.start()
            c.wait_live()
            runner = c.runner_name(conductor)
            client = api.client

            vm = harness.boot(c.services, c.hosts[0])
            resp = client.move(vm['uuid'], host=c.hosts[1])
            assert resp.status_code == 202, resp.text
            location = resp.headers['Location']
            assert resp.json()['task']['state'] == 'accepted'
            done = client.wait(location)
            assert done['state'] == 'completed', done['reason']
            assert c.services.inventory.get_instance(vm['uuid'])['host'] \
                == c.hosts[1]
            # Claimed once, by the conductor service; the task says so.
            assert done['conductor'] == runner
            assert [cl['conductor'] for cl in done['claims']] == [runner]

            # A drain over HTTP: its children are the service's too.
            vms = [harness.boot(c.services, c.hosts[2],
                                power_state='shutdown') for _ in range(2)]
            resp = client.call('POST', '/v1/drains',
                               body={'drain': {'host': c.hosts[2]}})
            assert resp.status_code == 202, resp.text
            drained = client.wait(resp.headers['Location'])
            assert drained['state'] == 'completed', drained
            children = drained['children']
            assert {ch['instance'] for ch in children} == \
                {v['uuid'] for v in vms}
            assert {ch['state'] for ch in children} == {'completed'}
            for child in children:
                assert _claimed_by(client, child['id']) == (runner, [runner])

            # The API process never was a conductor of the board.
            assert api.name not in c.live_on_board()
            assert not any(e['name'].startswith('api.')
                           for task in [done] + children
                           for e in c.claims(task['id']))
            log = api.log_text()
            assert 'takes moves from the jobboard' not in log, log
            assert 'runs the moves' not in log, log
            assert c.board in log       # it posted on the conductors' board
            c.check_world([done] + [c.services.records.get_task(ch['id'])
                                    for ch in children])
        finally:
            api.stop()
        assert api.proc.returncode == 0, api.log_text()[-4000:]
