"""A live migration's move follows the guest to its destination the moment
it runs there, not when libvirt's source daemon is done.

libvirt resumes the guest on the destination, then its source daemon ends
the source QEMU and looks again 200 ms later, answering nothing about the
domain meanwhile. Here the source's daemon is frozen (SIGSTOP) from the
instant the guest runs on host2: the move must still activate host2's
ports and move the instance in the inventory, and finish its cleanup once
the daemon runs again. A move that waits for the source's word does
neither until then.
"""

import contextlib
import os
import signal
import time

from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.libvirt import states
from tests.functional.libvirt import guests
from tests.functional.libvirt import test_libvirt_agents

SWITCHED = ('SwitchOverMigration', 'ActivateDestinationPorts', 'UpdateInstanceHost')


@contextlib.contextmanager
def _source_frozen_on_arrival(libvirt_hosts, instance_uuid):
    """Freeze host1's daemon the moment host2 runs the guest; thaw it at
    the end, whatever happened."""
    conn = states.libvirt.open(libvirt_hosts[1].uri)
    pids = []
    try:
        def runs_on_host2():
            try:
                dom = conn.lookupByUUIDString(instance_uuid)
                return dom.state()[0] == states.libvirt.VIR_DOMAIN_RUNNING
            except states.libvirt.libvirtError:
                return False
        guests.wait_for(runs_on_host2, timeout=60, interval=0.001,
                        what='the guest running on host2')
        pids = procfs.processes(libvirt_hosts[0].conf_path)
        assert pids, 'no libvirtd of host1'
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        conn.close()


def _check_followed(cloud, doc):
    """While the source's daemon is frozen: switched over, ports active
    on host2, the inventory says host2, the move not ended (its cleanup
    waits for the source)."""
    def switched():
        task = cloud.api.get_task(None, doc['id'])
        subs = {s['name']: s for s in task['subtasks']}
        return all(subs.get(name, {}).get('finished') for name in SWITCHED) and task
    task = guests.wait_for(switched, timeout=30,
                           what='the switch-over while the source is frozen')
    assert task['state'] not in ('completed', 'reverted', 'failed'), task['reason']
    uuid = doc['instance']
    assert cloud.services.network.bindings(uuid) == {'host1': False, 'host2': True}
    assert cloud.services.inventory.get_instance(uuid)['host'] == 'host2'


def _check_ended(cloud, libvirt_hosts, doc):
    """Completed once the source's daemon runs again; the figures only
    the destination's daemon keeps reach the task."""
    doc = cloud.api.wait_task(None, doc['id'], timeout=90)
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    assert guests.defined_on(libvirt_hosts, doc['instance']) == {'host2': 'running'}
    [switch] = [s for s in doc['subtasks'] if s['name'] == 'SwitchOverMigration']
    assert switch['result']['downtime_ms'] > 0, switch['result']
    assert switch['result']['transferred_mb'] > 1, switch['result']
    assert cloud.audit() == []


def test_the_move_follows_the_guest_before_the_source_is_done(
        make_cloud, libvirt_hosts):
    cloud = make_cloud(libvirt__storage_groups={'host1': 'g', 'host2': 'g'})
    vm = guests.boot(cloud, 'vm1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    with _source_frozen_on_arrival(libvirt_hosts, vm['uuid']):
        _check_followed(cloud, doc)
    _check_ended(cloud, libvirt_hosts, doc)


@contextlib.contextmanager
def _moving_through_agents(make_driver, libvirt_hosts, tmp_path):
    """(cloud, vm, move's task): agents of real hosts' configuration (each
    reaches its own daemon; the hosts share storage), vm1 booted on host1
    and its move to host2 under way."""
    local = make_driver()
    groups = {'host1': 'g', 'host2': 'g'}
    with test_libvirt_agents.agent_cloud(local, libvirt_hosts, tmp_path,
                                         reach_peers=False,
                                         storage_groups=groups) as cloud:
        vm = test_libvirt_agents._boot(cloud, local, 'vm1')
        yield cloud, vm, cloud.api.move_instance(None, 'vm1', destination='host2')


def test_through_agents(make_driver, libvirt_hosts, tmp_path):
    """The same on real hosts' terms: each agent reaches its own daemon,
    and the destination's says the guest arrived (agent API 1.9)."""
    with _moving_through_agents(make_driver, libvirt_hosts, tmp_path) as (
            cloud, vm, doc):
        with _source_frozen_on_arrival(libvirt_hosts, vm['uuid']):
            _check_followed(cloud, doc)
        _check_ended(cloud, libvirt_hosts, doc)


def test_source_agent_killed_while_libvirt_ends_the_source(
        make_driver, libvirt_hosts, tmp_path):
    """The source's agent dies (SIGKILL) after the guest runs on host2 and
    before libvirt has ended the source (its daemon frozen meanwhile): the
    migration call dies with it, and so does the cleanup's destroy, which
    the dead agent may have in hand. Once the daemon runs again and the
    agent is back, the move completes: the domain defined on host2 alone,
    the audit clean."""
    with _moving_through_agents(make_driver, libvirt_hosts, tmp_path) as (
            cloud, vm, doc):
        agent = cloud.agents['host1']
        with _source_frozen_on_arrival(libvirt_hosts, vm['uuid']):
            _check_followed(cloud, doc)

            def destroying():
                task = cloud.api.get_task(None, doc['id'])
                return any(s['name'] == 'DestroySource' and s['history']
                           for s in task['subtasks'])
            guests.wait_for(destroying, timeout=30, what='DestroySource')
            # Its call reaches the agent within milliseconds; the agent
            # holds it until libvirt ends the source.
            time.sleep(0.5)
            agent.proc.kill()
            agent.proc.wait()
        agent.start()
        _check_ended(cloud, libvirt_hosts, doc)
        # The destroy the dead agent had in hand was given up once its
        # heartbeats stopped ([compute] rpc_call_monitor_timeout, not
        # rpc_timeout's 120 s), and the cleanup's retry found the new agent.
        task = cloud.api.get_task(None, doc['id'])
        [destroy] = [s for s in task['subtasks'] if s['name'] == 'DestroySource']
        assert [h['state'] for h in destroy['history']][:2] == ['RUNNING', 'FAILURE']
        assert destroy['history'][-1]['state'] == 'SUCCESS'
        assert 'reverting' not in [h['state'] for h in task['history']]
