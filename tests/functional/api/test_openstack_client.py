"""``openstack move ...`` (python-openstackclient and our plugin) as a
subprocess against the API, with no auth (--os-auth-type none)."""

import json
import os
import subprocess
import sys

import pytest

from tests.db_fixtures import fresh_database
from tests.functional.api import harness


@pytest.fixture(scope='module')
def api(tmp_path_factory):
    with fresh_database('sqlite',
                        tmp_dir=tmp_path_factory.mktemp('osc')) as url:
        server = harness.ApiServer(url)
        try:
            yield server
        finally:
            server.close()


def openstack(api, *args, check=True):
    exe = os.path.join(os.path.dirname(sys.executable), 'openstack')
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    proc = subprocess.run(
        [exe, '--os-auth-type', 'none', '--os-endpoint', api.url, 'move']
        + list(args), capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_move_server_and_follow_its_tasks(api):
    vm = api.boot()
    proc = openstack(api, 'server', vm['uuid'], '--host', 'host3', '--live',
                     '--wait', '-f', 'json')
    task = json.loads(proc.stdout)
    assert task['State'] == 'completed' and task['Type'] == 'live-migrate'
    assert api.services.inventory.get_instance(vm['uuid'])['host'] == 'host3'
    listed = json.loads(openstack(api, 'task', 'list', '-f', 'json').stdout)
    assert task['ID'] in [t['ID'] for t in listed]
    mine = json.loads(openstack(api, 'task', 'list', '--instance',
                                vm['uuid'], '-f', 'json').stdout)
    assert [t['ID'] for t in mine] == [task['ID']]
    shown = json.loads(openstack(api, 'task', 'show', task['ID'], '-f',
                                 'json').stdout)
    assert shown['ID'] == task['ID'] and shown['Destination'] == 'host3'
    events = json.loads(openstack(api, 'task', 'events', task['ID'], '-f',
                                  'json').stdout)
    assert events[-1]['State'] == 'completed'


def test_actions_and_errors(api):
    vm = api.boot(power_state='shutdown')
    proc = openstack(api, 'server', vm['uuid'], '--host', 'host-bad2',
                     '--wait', '-f', 'json', check=False)
    assert proc.returncode == 4, proc.stderr    # --wait: 4 is failed
    task = json.loads(proc.stdout)
    assert task['State'] == 'failed'
    proc = openstack(api, 'task', 'revert', task['ID'], '--wait', '-f',
                     'json', check=False)
    assert proc.returncode == 3, proc.stderr    # 3 is reverted
    assert json.loads(proc.stdout)['State'] == 'reverted'
    for action in ('abort', 'resume', 'force-complete'):
        proc = openstack(api, 'task', action, task['ID'], check=False)
        assert proc.returncode == 1
        assert 'cannot be' in proc.stderr, proc.stderr
    proc = openstack(api, 'task', 'show', 'no-such-task', check=False)
    assert proc.returncode == 1
    assert 'Task no-such-task could not be found.' in proc.stderr
    hosts = json.loads(openstack(api, 'host', 'list', '-f', 'json').stdout)
    assert 'host1' in [h['Name'] for h in hosts]
    shown = json.loads(openstack(api, 'host', 'set', 'host6', '--state',
                                 'disabled', '-f', 'json').stdout)
    assert shown['State'] == 'disabled'
