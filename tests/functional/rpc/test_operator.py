"""Operators' actions and the CLI, through the conductor service."""

import json
import os
import subprocess

import pytest

from move_orchestrator import exception
from tests.functional.rpc import harness


def _host(conductor, name):
    try:
        conductor.services.inventory.get_host(name)
    except exception.HostNotFound:
        conductor.services.inventory.create_host(
            name, vcpus=64, ram_mb=65536, disk_gb=1000,
            cpu_model='Cascadelake', storage_group='local-' + name)
    return name


def _failed_move(conductor, api, admin, boot, host):
    """A cold move whose disk copy and then whose revert fail (once)."""
    vm = boot(power_state='shutdown')
    doc = api.move_instance(admin, vm['uuid'],
                            destination=_host(conductor, host))
    doc = harness.wait_task(api, admin, doc['id'])
    assert doc['state'] == 'failed', (doc['state'], doc['reason'])
    return vm, doc


def test_abort_before_ponr_reverts(conductor, api, admin, boot):
    vm = boot()
    doc = api.move_instance(admin, vm['uuid'],
                            destination=_host(conductor, 'host-slow'))
    aborted = api.abort_task(admin, doc['id'])
    assert aborted['id'] == doc['id']
    doc = harness.wait_task(api, admin, doc['id'])
    assert doc['state'] == 'reverted'
    assert 'abort' in (doc['reason'] or '')
    assert [a['action'] for a in doc['actions']] == ['abort']
    assert doc['actions'][0]['user_id'] == admin.user_id


def test_abort_after_ponr_refused(api, admin, boot):
    vm = boot()
    doc = api.move_instance(admin, vm['uuid'], destination='host2')
    harness.wait_task(api, admin, doc['id'])
    with pytest.raises(exception.InvalidTaskAction) as err:
        api.abort_task(admin, doc['id'])
    assert err.value.kwargs['task'] == doc['id']


def test_resume_failed_move_completes(conductor, api, admin, boot):
    vm, doc = _failed_move(conductor, api, admin, boot, 'host-bad1')
    api.resume_task(admin, doc['id'])
    doc = harness.wait_task(api, admin, doc['id'])
    assert doc['state'] == 'completed', doc['reason']
    assert 'resume' in [a['action'] for a in doc['actions']]
    assert conductor.services.inventory.get_instance(
        vm['uuid'])['host'] == 'host-bad1'


def test_revert_failed_move(conductor, api, admin, boot):
    vm, doc = _failed_move(conductor, api, admin, boot, 'host-bad2')
    api.revert_task(admin, doc['id'])
    doc = harness.wait_task(api, admin, doc['id'])
    assert doc['state'] == 'reverted', doc['reason']
    assert conductor.services.inventory.get_instance(
        vm['uuid'])['host'] == vm['host']
    assert [p for p in api.audit(admin) if p['instance'] == vm['uuid']] == []


def test_force_complete_of_a_cold_move_refused(api, admin, boot):
    vm = boot(power_state='shutdown')
    doc = api.move_instance(admin, vm['uuid'], destination='host3')
    with pytest.raises(exception.InvalidTaskAction):
        api.force_complete(admin, doc['id'])
    harness.wait_task(api, admin, doc['id'])


def _cli(conductor, *args):
    """``move-orchestrator`` with the service's config (transport_url set)."""
    out = subprocess.run(
        [os.path.join(harness.BIN, 'move-orchestrator'), '--config-file',
         conductor.config] + list(args),
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_cli_talks_to_the_service(conductor, api, admin, boot):
    vm = boot(power_state='shutdown')
    moved = json.loads(_cli(conductor, 'move', vm['uuid'], '--to', 'host4',
                            '--wait', '-f', 'json'))
    assert moved['State'] == 'completed'
    assert moved['Instance'] == vm['name']
    assert api.get_task(admin, moved['ID'])['state'] == 'completed'
    tasks = json.loads(_cli(conductor, 'task', 'list', '--instance',
                            vm['uuid'], '-f', 'json'))
    assert [t['ID'] for t in tasks] == [moved['ID']]
    hosts = {h['Name'] for h in json.loads(_cli(conductor, 'host', 'list',
                                                '-f', 'json'))}
    assert {'host1', 'host4', 'host-faulty'} <= hosts


@pytest.fixture
def roomy_host(conductor):
    """The scheduler's first pick while a test runs (the shared service
    has hosts where moves fail on purpose); disabled after it."""
    name = 'host-roomy-%s' % os.urandom(3).hex()
    conductor.services.inventory.create_host(
        name, vcpus=10000, ram_mb=10 ** 8, disk_gb=10 ** 6,
        cpu_model='Cascadelake', storage_group='local-' + name)
    yield name
    conductor.services.inventory.set_host_state(name, 'disabled')


def test_drain_over_rpc_paused_resumed(conductor, api, admin, boot,
                                       roomy_host):
    host = _host(conductor, 'host-drained')
    vms = [boot(host=host) for _ in range(2)]
    drain = api.drain_host(admin, host)
    assert drain['type'] == 'drain' and drain['host'] == host
    assert api.pause_task(admin, drain['id'])['state'] == 'paused'
    doc = harness.wait_task(api, admin, drain['id'], states=('paused',))
    api.resume_task(admin, drain['id'])
    doc = harness.wait_task(api, admin, drain['id'], timeout=120)
    assert doc['state'] == 'completed', doc['reason']
    assert doc['progress']['completed'] == 2
    assert sorted(c['instance'] for c in doc['children']) == sorted(
        v['uuid'] for v in vms)
    assert {c['destination'] for c in doc['children']} == {roomy_host}
    assert [a['action'] for a in doc['actions']] == ['pause', 'resume']
    assert conductor.services.inventory.list_instances(host=host) == []
    assert api.get_task(admin, drain['id'])['id'] == drain['id']


def test_cli_host_drain_over_rpc(conductor, boot, roomy_host):
    host = _host(conductor, 'host-drained-cli')
    boot(host=host, power_state='shutdown')
    doc = json.loads(_cli(conductor, 'host', 'drain', host, '--wait',
                          '-f', 'json'))
    assert doc['State'] == 'completed' and doc['Type'] == 'drain', doc
    assert doc['Progress'].startswith('1 of 1 completed')
    assert roomy_host in doc['Children']
    assert conductor.services.inventory.list_instances(host=host) == []


def _cli_fails(conductor, *args):
    return subprocess.run(
        [os.path.join(harness.BIN, 'move-orchestrator'), '--config-file',
         conductor.config] + list(args),
        capture_output=True, text=True, timeout=60)


def test_cli_errors_over_rpc_are_one_line(conductor):
    """The typed error arrives as its class, its str() the message
    without the server's traceback."""
    out = _cli_fails(conductor, 'move', 'vm99')
    assert (out.returncode, out.stderr) == (
        1, 'Error: Instance vm99 could not be found.\n')
    out = _cli_fails(conductor, 'move', 'x\n\x1b[31m' + 'y' * 100000)
    assert out.returncode == 1
    assert out.stderr.count('\n') == 1 and '\x1b' not in out.stderr
    assert len(out.stderr) < 600
    out = _cli_fails(conductor, 'task', 'list', '--limit', '-1')
    assert out.returncode == 2 and 'must be from 1 to 1000' in out.stderr
    out = _cli_fails(conductor, '--debug', 'task', 'show', 'no-such-task')
    assert out.returncode == 1
    assert 'Traceback' in out.stderr
    assert out.stderr.endswith('Error: Task no-such-task could not be '
                               'found.\n')


def test_task_list_filters_in_the_query_over_rpc(conductor, api, admin,
                                                 boot, roomy_host):
    """type and host (RPC 1.5) filter before the limit: the newer cold
    move to the same host does not empty a one-task page."""
    live, cold = boot(), boot(power_state='shutdown')
    docs = [harness.wait_task(api, admin, api.move_instance(
        admin, vm['uuid'], destination=roomy_host)['id'])
        for vm in (live, cold)]
    assert [d['type'] for d in docs] == ['live-migrate', 'cold-migrate']
    page = api.list_tasks(admin, type='live-migrate', host=roomy_host,
                          limit=1)
    assert [t['id'] for t in page] == [docs[0]['id']]
    listed = json.loads(_cli(conductor, 'task', 'list', '--host', roomy_host,
                             '--type', 'live-migrate', '--limit', '1',
                             '-f', 'json'))
    assert [t['ID'] for t in listed] == [docs[0]['id']]
