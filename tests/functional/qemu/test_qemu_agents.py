"""Moves of real QEMU VMs through ``move-orchestrator-compute`` agents.

Two agent processes (host1, host2) on RabbitMQ (a private virtual host)
register their hosts with the inventory and serve the qemu driver; the
conductor in this process runs the moves with the ``rpc`` compute driver.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.db import migration
from tests.functional.qemu import conftest
from tests.functional.qemu import guests
from tests.functional.rpc import harness as rpc_harness
from tests import harness

BIN = os.path.dirname(sys.executable)


class Agent:
    def __init__(self, tmp_path, host, transport_url, db_url, root, storage_groups=None):
        self.host = host
        self.config = str(tmp_path / ('%s.conf' % host))
        self.log = str(tmp_path / ('%s.log' % host))
        groups = storage_groups or {}
        with open(self.config, 'w') as f:
            f.write('[DEFAULT]\ntransport_url = %s\nhost = %s\n'
                    '[database]\nconnection = %s\n'
                    '[compute]\nagent_driver = qemu\nagent_vcpus = 4\n'
                    'agent_ram_mb = 1024\nagent_disk_gb = 20\n%s'
                    '[qemu]\ninstances_path = %s\nstorage_groups = %s\n'
                    '[oslo_messaging_rabbit]\nrabbit_retry_interval = 1\n'
                    % (transport_url, host, db_url,
                       'agent_storage_group = %s\n' % groups[host] if host in groups else '',
                       root, ','.join('%s:%s' % hg for hg in sorted(groups.items()))))
        self.proc = None

    def command(self):
        return [os.path.join(BIN, 'move-orchestrator-compute'), '--config-file',
                self.config]

    def start(self, timeout=60):
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        with open(self.log, 'ab') as out:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, 'rb') as f:
                f.seek(offset)
                if b'serving topic' in f.read():
                    return self
            assert self.proc.poll() is None, open(self.log).read()
            time.sleep(0.05)
        raise AssertionError('agent %s did not start: %s' % (self.host, open(self.log).read()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def agents(make_driver, tmp_path, request):
    """(cloud, driver, {host: Agent}): two agents, and a conductor here
    using the rpc driver; the driver looks at the hosts directly.

    Parametrized indirectly, it takes ``storage_groups`` (the agents') and
    ``task_faults`` (the conductor's).
    """
    yield from run_agents(make_driver, tmp_path, request, Agent)


def run_agents(make_driver, tmp_path, request, agent_class):
    opts = getattr(request, 'param', {})
    groups = opts.get('storage_groups', {})
    # The same hosts' directory, to look and clean up.
    local = make_driver(storage_groups=groups)
    url = 'sqlite:///%s' % (tmp_path / 'mo.db')
    migration.upgrade(url)
    with rpc_harness.private_vhost() as transport_url:
        started = []
        cloud = None
        try:
            for host in ('host1', 'host2'):
                started.append(agent_class(tmp_path, host, transport_url, url,
                                           local.root, storage_groups=groups).start())
            cloud = harness.Cloud(url, seed=False, compute__driver='rpc',
                                  task_faults=opts.get('task_faults', ()),
                                  conductor__poll_interval=0.02,
                                  qemu__instances_path=local.root)
            cloud.override('transport_url', transport_url, None)
            cloud.tmp, cloud.root = tmp_path, local.root
            yield cloud, local, dict((a.host, a) for a in started)
        finally:
            if cloud is not None:
                cloud.close()
            for agent in started:
                agent.stop()
            local.destroy_all()
    assert conftest.qemu_processes(local.root) == []


def test_moves_between_two_agents(agents, image):
    cloud, _local, _agents = agents
    hosts = cloud.services.inventory.list_hosts()
    # Registered by the agents themselves.
    assert [(h['name'], h['state'], h['vcpus'], h['cpu_model']) for h in hosts] == [
        ('host1', 'up', 4, 'qemu64'), ('host2', 'up', 4, 'qemu64')]
    cloud.services.inventory.create_flavor('q.small', 1, 64, 1)
    vm = cloud_mod.boot_instance(cloud.services, 'vm1', 'host1', 'q.small', image=image)
    guests.wait_for(lambda: len(guests.counters(cloud, vm, 'host1')) > 3)
    tail = guests.SerialTail(cloud, vm, 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')      # audit over RPC too

    doc = cloud.move('vm1', destination='host1', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert guests.same_disk(image, cloud.world('vm1')['disks']['host1']['path'])

    # The first live migration's route again: its own migration, not the
    # earlier one's, through the agents too.
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    assert cloud.world('vm1')['migration']['id'] == doc['id']
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


def test_evacuate_from_a_dead_host_whose_agent_cleans_up_on_return(agents, image):
    cloud, local, started = agents
    cloud.services.inventory.create_flavor('q.small', 1, 64, 1)
    vm = cloud_mod.boot_instance(cloud.services, 'vm1', 'host1', 'q.small', image=image)
    guests.wait_for(lambda: len(guests.counters(cloud, vm, 'host1')) > 3)
    # host1 dies: its agent and its VM with it.
    started['host1'].proc.send_signal(signal.SIGKILL)
    started['host1'].proc.wait()
    [(pid, _cmdline)] = guests.qemu_pids(cloud, vm)
    os.kill(pid, signal.SIGKILL)
    guests.wait_for(lambda: not guests.qemu_pids(cloud, vm))
    cloud.services.inventory.set_host_state('host1', 'down')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    # Nobody could clean host1 up: its remains wait for its agent.
    left = local.describe(vm['uuid'])
    assert left['domains']['host1']['state'] == 'shutoff'
    assert 'host1' in left['disks']

    started['host1'].start()        # registers host1 up again, and reaps
    assert cloud.services.inventory.get_host('host1')['state'] == 'up'
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert guests.same_disk(image, cloud.world('vm1')['disks']['host2']['path'])


@pytest.mark.parametrize('agents', [{
    'storage_groups': {'host1': 'g', 'host2': 'g'},
    'task_faults': ['CopyDisk.execute.after=fail'],
}], indirect=True, ids=['shared-storage'])
def test_resize_within_a_storage_group_reverts_the_disk_size(agents, image):
    """The source's agent tells the conductor that its copy was made in
    place (agent API 1.1): the revert shrinks the shared disk back."""
    cloud, _local, _agents = agents
    for flavor in conftest.FLAVORS:
        cloud.services.inventory.create_flavor(*flavor)
    vm = cloud_mod.boot_instance(cloud.services, 'vm1', 'host1', 'q.small', image=image)
    guests.wait_for(lambda: len(guests.counters(cloud, vm, 'host1')) > 3)

    doc = cloud.move('vm1', destination='host2', flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'reverted'), doc['reason']
    assert doc['failed_step'] == 'CopyDisk'
    guests.assert_runs_only_on(cloud, vm, 'host1')
    disk = cloud.world('vm1')['disks']['host1']
    assert disk['size_gb'] == 1
    assert guests.same_disk(image, disk['path'])
