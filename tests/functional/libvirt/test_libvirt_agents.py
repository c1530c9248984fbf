"""Moves of libvirt domains through ``move-orchestrator-compute`` agents:
one agent per host (its [libvirt] connection_uri its own daemon), on
RabbitMQ (a private virtual host); the conductor here uses the ``rpc``
compute driver. Every move type: live, cold, resize, evacuate."""

import contextlib

import pytest

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.db import migration
from move_orchestrator import faults
from tests.functional.libvirt import agents
from tests.functional.libvirt import guests
from tests.functional.rpc import harness as rpc_harness
from tests import harness


@contextlib.contextmanager
def agent_cloud(local, libvirt_hosts, tmp_path, reach_peers=True, storage_groups=None,
                **libvirt_opts):
    """A conductor here and an agent per host (libvirt_opts: their
    [libvirt] options); the flavors l.small, l.big."""
    url = 'sqlite:///%s' % (tmp_path / 'mo.db')
    migration.upgrade(url)
    with rpc_harness.private_vhost() as transport_url:
        started, cloud = [], None
        try:
            for host in ('host1', 'host2'):
                started.append(agents.LibvirtAgent(
                    tmp_path, host, transport_url, url, libvirt_hosts,
                    local.root, storage_groups=storage_groups,
                    reach_peers=reach_peers, **libvirt_opts).start())
            cloud = harness.Cloud(url, seed=False, compute__driver='rpc',
                                  conductor__poll_interval=0.02)
            cloud.override('transport_url', transport_url, None)
            cloud.services.inventory.create_flavor('l.small', 1, 64, 1)
            cloud.services.inventory.create_flavor('l.big', 2, 96, 2)
            cloud.agents = {a.host: a for a in started}
            yield cloud
        finally:
            if cloud is not None:
                cloud.close()
            for agent in started:
                agent.stop()


def _boot(cloud, local, name, host='host1'):
    vm = cloud_mod.boot_instance(cloud.services, name, host, 'l.small',
                                 image='no-image')
    guests.wait_for(lambda: len(guests.counters(local, vm['uuid'], host)) > 3)
    return vm


@pytest.mark.parametrize('reach_peers', [True, False])
def test_live_migration_through_agents(make_driver, libvirt_hosts, tmp_path,
                                       reach_peers):
    """reach_peers false, as on real hosts: each agent reaches its own
    libvirtd (connection_uri) and says what the others reach it by
    (inbound_uri). The source's daemon migrates to the URI the
    destination's agent answered, and the figures only the destination's
    daemon keeps reach the task."""
    local = make_driver()           # the same hosts, to look and clean up
    with agent_cloud(local, libvirt_hosts, tmp_path, reach_peers) as cloud:
        vm = _boot(cloud, local, 'vm1')
        tail = guests.SerialTail(local, vm['uuid'], 'host1')

        doc = cloud.move('vm1', destination='host2')
        assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
            doc['reason']
        guests.assert_continues(local, vm['uuid'], tail, 'host2')
        assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
        assert cloud.world('vm1')['migration']['id'] == doc['id']
        [switch] = [s for s in doc['subtasks'] if s['name'] == 'SwitchOverMigration']
        assert switch['result']['downtime_ms'] > 0, switch['result']
        assert switch['result']['transferred_mb'] > 1, switch['result']
        assert cloud.audit() == []


def test_shared_disk_counted_once_by_agents_of_real_hosts(make_driver, libvirt_hosts,
                                                          tmp_path):
    """One storage group, each agent reaching its own daemon alone: the
    agent of the host the guest left sees the group's disk and no domain
    of its own. The audit counts the disk once, where the domain is, after
    a move there and back (it reported the disk on both hosts)."""
    shared = {'host1': 'g', 'host2': 'g'}
    local = make_driver(storage_groups=shared)
    with agent_cloud(local, libvirt_hosts, tmp_path, reach_peers=False,
                     storage_groups=shared) as cloud:
        vm = _boot(cloud, local, 'vm1')
        for dest in ('host2', 'host1'):
            doc = cloud.move('vm1', destination=dest)
            assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
                doc['reason']
            assert guests.defined_on(libvirt_hosts, vm['uuid']) == {dest: 'running'}
            assert cloud.audit() == []


@pytest.mark.parametrize('action', ['force_complete', 'abort_task'])
def test_force_complete_and_abort_through_agents_of_real_hosts(
        make_driver, libvirt_hosts, tmp_path, action):
    """A throttled migration, agents that reach their own daemon alone.
    Force-complete: the source's agent suspends the guest until the copy
    ends; it cannot reach the daemon the guest arrives on, the
    destination's agent can. Abort: the source's agent cancels the job,
    the destination's undoes what it prepared."""
    shared = {'host1': 'g', 'host2': 'g'}
    local = make_driver(storage_groups=shared)
    with agent_cloud(local, libvirt_hosts, tmp_path, reach_peers=False,
                     storage_groups=shared, max_bandwidth=4) as cloud:
        vm = _boot(cloud, local, 'vm1')
        tail = guests.SerialTail(local, vm['uuid'], 'host1')
        doc = cloud.api.move_instance(None, 'vm1', destination='host2')
        guests.migrating(cloud, doc, minimum_mb=1)
        getattr(cloud.api, action)(None, doc['id'])
        doc = cloud.api.wait_task(None, doc['id'], timeout=120)
        home, state, recorded = {'force_complete': ('host2', 'completed', 'force-complete'),
                                 'abort_task': ('host1', 'reverted', 'abort')}[action]
        assert doc['state'] == state, doc['reason']
        assert [a['action'] for a in doc['actions']] == [recorded]
        if home == 'host2':
            guests.assert_continues(local, vm['uuid'], tail, home)
        else:
            # Never stopped: host1's guest counts on, from its first count.
            seen = len(tail.counters())
            counts = guests.wait_for(lambda: len(tail.counters()) > seen + 3
                                     and tail.counters())
            assert counts == list(range(1, len(counts) + 1))
        assert guests.defined_on(libvirt_hosts, vm['uuid']) == {home: 'running'}
        assert cloud.audit() == []


def _restart_source_agent_then_fail(cloud, libvirt_hosts, vm, monkeypatch,
                                    conductor_too=False):
    """Once libvirt has switched the guest over (TransferMemory's execute
    saw it run on host2) and ended the migration on host1 (about 200 ms
    later: it ends the source QEMU first), restart host1's agent, and with
    conductor_too give the conductor a new rpc driver, as a restarted
    conductor has it; then fail the step. The agent's [(pid before, pid
    after)]."""
    point = 'TransferMemory.execute.after'
    cloud.services.task_faults = faults.parse([point + '=fail_once'])
    agent, restarted, trigger = cloud.agents['host1'], [], faults.trigger

    def restart_then_fail(at, action):
        if at == point and not restarted:
            guests.wait_for(lambda: guests.defined_on(libvirt_hosts, vm['uuid'])
                            == {'host2': 'running'}, timeout=30,
                            what='the guest defined on host2 alone')
            pid = agent.proc.pid
            agent.stop()
            agent.start()
            if conductor_too:
                cloud.restart_conductor_driver()
            restarted.append((pid, agent.proc.pid))
        trigger(at, action)
    monkeypatch.setattr(faults, 'trigger', restart_then_fail)
    return restarted


@pytest.mark.parametrize('conductor_too', [False, True])
def test_source_agent_restarted_after_the_switch_over(
        make_driver, libvirt_hosts, tmp_path, monkeypatch, conductor_too):
    """libvirt switched the guest over; the source's agent is restarted (its
    memory of the migration gone) before the move confirms it, and the
    migration step then fails: the new agent refuses the cancel from the
    mark in the domain's metadata, so the move runs forward and completes
    with the guest on the destination, never reverted under it. A
    conductor restarted as well asks the same agent (the move's record
    names its source), and gets the same answer."""
    local = make_driver()
    with agent_cloud(local, libvirt_hosts, tmp_path) as cloud:
        vm = _boot(cloud, local, 'vm1')
        tail = guests.SerialTail(local, vm['uuid'], 'host1')
        restarted = _restart_source_agent_then_fail(
            cloud, libvirt_hosts, vm, monkeypatch, conductor_too=conductor_too)

        doc = cloud.move('vm1', destination='host2')
        assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
            doc['reason']
        [(before, after)] = restarted
        assert before != after
        assert 'reverting' not in [h['state'] for h in doc['history']]
        [sub] = [s for s in doc['subtasks'] if s['name'] == 'TransferMemory']
        assert 'FAILURE' in [h['state'] for h in sub['history']]
        guests.assert_continues(local, vm['uuid'], tail, 'host2')
        assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
        assert cloud.instance('vm1')['host'] == 'host2'
        assert cloud.audit() == []
        # The destination confirmed it in the domain's record: for a later
        # move it is an earlier move's migration, nothing to cancel.
        local.cancel_migration(vm['uuid'])


@pytest.mark.parametrize('reach_peers,shared', [(True, False), (False, False),
                                                (False, True)])
def test_cold_migration_resize_and_evacuation_through_agents(
        make_driver, libvirt_hosts, tmp_path, reach_peers, shared):
    """reach_peers false: each agent reaches its own daemon alone, as on
    real hosts; shared: the hosts are one storage group (the disk stays
    where it is, and each agent sees it)."""
    groups = {'host1': 'g', 'host2': 'g'} if shared else None
    local = make_driver(storage_groups=groups or {})
    with agent_cloud(local, libvirt_hosts, tmp_path, reach_peers, groups) as cloud:
        cold, resized, evacuated = (_boot(cloud, local, n) for n in ('vm1', 'vm2', 'vm3'))

        doc = cloud.move('vm1', destination='host2', live=False)
        assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), \
            doc['reason']
        assert guests.defined_on(libvirt_hosts, cold['uuid']) == {'host2': 'running'}
        assert list(cloud.world('vm1')['disks']) == ['host2']

        doc = cloud.move('vm2', destination='host2', flavor='l.big')
        assert (doc['type'], doc['state']) == ('resize', 'completed'), doc['reason']
        assert guests.defined_on(libvirt_hosts, resized['uuid']) == {'host2': 'running'}
        world = cloud.world('vm2')
        assert (world['domains']['host2']['vcpus'], world['domains']['host2']['ram_mb'],
                world['disks']['host2']['size_gb']) == (2, 96, 2)

        # host1's guest dies with its host (its daemon answers still).
        guests.virsh(libvirt_hosts[0], 'destroy', evacuated['uuid'])
        cloud.services.inventory.set_host_state('host1', 'down')
        doc = cloud.move('vm3', destination='host2')
        assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
        # host1 down: nobody asked its agent to clean up.
        assert guests.defined_on(libvirt_hosts, evacuated['uuid']) == {
            'host1': 'shut off', 'host2': 'running'}
        # Repaired: its agent starts again and deletes what was evacuated.
        cloud.agents['host1'].stop()
        cloud.agents['host1'].start()
        cloud.services.inventory.set_host_state('host1', 'up')
        assert guests.defined_on(libvirt_hosts, evacuated['uuid']) == {
            'host2': 'running'}
        for vm in (cold, resized, evacuated):
            guests.wait_for(lambda: len(guests.counters(local, vm['uuid'], 'host2')) > 3)
        assert cloud.audit() == []
