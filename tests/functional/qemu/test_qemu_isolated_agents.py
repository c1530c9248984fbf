"""Compute agents that cannot see each other's hosts.

Each agent runs in a mount namespace of its own (``unshare -m``) where its
``instances_path`` is a private tmpfs holding only its own host's directory
(and its storage group's, when it shares storage), bind-mounted from the
real one: that no agent reads or writes another host's files is checked by
the kernel, not assumed. A disk then moves between hosts only over the
network (an NBD export of the source, imported by the destination), port
bindings only through the network driver. The test process sees every
host's directory, to look at the result.
"""

import os
import shlex
import shutil
import subprocess

import pytest

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import process
from tests.functional.qemu import conftest
from tests.functional.qemu import guests
from tests.functional.qemu import test_qemu_agents

if not shutil.which('unshare') or os.geteuid() != 0:
    pytest.skip('mount namespaces need unshare (util-linux) and root',
                allow_module_level=True)


class IsolatedAgent(test_qemu_agents.Agent):
    """An agent whose instances_path shows its own host (and group) only."""

    qemu_extra = {}     # more [qemu] options of the agents

    def __init__(self, tmp_path, host, transport_url, db_url, root, storage_groups=None):
        super().__init__(tmp_path, host, transport_url, db_url, root,
                         storage_groups=storage_groups)
        self.root = root
        self.group = (storage_groups or {}).get(host)
        self.stage = str(tmp_path / ('stage-%s' % host))
        if self.qemu_extra:
            with open(self.config, 'a') as f:   # oslo.config merges the section
                f.write('[qemu]\n' + ''.join('%s = %s\n' % kv
                                             for kv in self.qemu_extra.items()))

    def command(self):
        mounts = [(os.path.join(self.root, self.host), self.host)]
        if self.group:
            mounts.append((os.path.join(self.root, '_shared', self.group),
                           os.path.join('_shared', self.group)))
        script = ['set -e']
        for i, (real, _inside) in enumerate(mounts):
            os.makedirs(real, exist_ok=True)
            os.makedirs('%s-%d' % (self.stage, i), exist_ok=True)
            script.append('mount --bind %s %s-%d' % (shlex.quote(real), self.stage, i))
        script.append('mount -t tmpfs -o mode=0755 hosts %s' % shlex.quote(self.root))
        for i, (_real, inside) in enumerate(mounts):
            target = shlex.quote(os.path.join(self.root, inside))
            script.append('mkdir -p %s && mount --bind %s-%d %s'
                          % (target, self.stage, i, target))
        script.append('exec ' + ' '.join(shlex.quote(a) for a in super().command()))
        return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                '\n'.join(script)]

    def sees(self):
        """What the agent's instances_path holds, seen from its namespace:
        its domains' and disks' directories (not the host's QEMU logs,
        kept on purpose after the domains are gone)."""
        out = subprocess.run(['nsenter', '-t', str(self.proc.pid), '-m', 'find',
                              self.root, '-maxdepth', '2', '-type', 'd'],
                             capture_output=True, text=True, check=True)
        return sorted(os.path.relpath(p, self.root) for p in out.stdout.split()
                      if p != self.root and os.path.basename(p) != process.LOGS)


@pytest.fixture
def isolated(make_driver, tmp_path, request):
    extra = getattr(request, 'param', {}).get('agent_qemu')
    agent_class = (type('Agent', (IsolatedAgent,), {'qemu_extra': extra}) if extra
                   else IsolatedAgent)
    yield from test_qemu_agents.run_agents(make_driver, tmp_path, request, agent_class)


def _boot(cloud, image, host='host1'):
    for flavor in conftest.FLAVORS:
        cloud.services.inventory.create_flavor(*flavor)
    vm = cloud_mod.boot_instance(cloud.services, 'vm1', host, 'q.small', image=image)
    guests.wait_for(lambda: len(guests.counters(cloud, vm, host)) > 3)
    return vm


def test_agents_that_share_nothing_cold_migrate_resize_and_evacuate(isolated, image):
    cloud, local, agents = isolated
    vm = _boot(cloud, image)
    # Each agent sees its own host, nothing of the other's.
    assert agents['host1'].sees() == ['host1', 'host1/%s' % vm['uuid']]
    assert agents['host2'].sees() == ['host2']

    doc = cloud.move('vm1', destination='host2', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert guests.same_disk(image, cloud.world('vm1')['disks']['host2']['path'])
    assert agents['host1'].sees() == ['host1']

    doc = cloud.move('vm1', destination='host1', flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host1')
    disk = cloud.world('vm1')['disks']['host1']
    assert disk['size_gb'] == 2
    assert guests.same_disk(image, disk['path'])
    assert agents['host2'].sees() == ['host2']

    # host1 dies; the instance is rebuilt on host2 from its image.
    agents['host1'].stop()
    for pid, _cmdline in guests.qemu_pids(cloud, vm):
        os.kill(pid, 9)
    guests.wait_for(lambda: not guests.qemu_pids(cloud, vm))
    cloud.services.inventory.set_host_state('host1', 'down')
    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    agents['host1'].start()                 # reaps what host1 kept
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert not os.path.exists(local.disk_path(vm['uuid'], 'host1'))
    assert cloud.audit() == []
    # Nothing exported any more.
    assert not [p for p in conftest.qemu_processes(local.root)
                if b'qemu-nbd' in procfs.cmdline(p)]


@pytest.mark.parametrize('isolated', [{
    'storage_groups': {'host1': 'g', 'host2': 'g'},
    'task_faults': ['CopyDisk.execute.after=fail_once'],
}], indirect=True, ids=['shared-storage'])
def test_agents_of_one_storage_group_share_its_directory_only(isolated, image):
    """Within an explicit storage group the disk is one file both agents
    reach (and nothing else of each other): a resize there grows it in
    place, reverted shrinks it back, and a cold migration keeps it."""
    cloud, local, agents = isolated
    vm = _boot(cloud, image)
    assert agents['host2'].sees() == ['_shared', '_shared/g', 'host2']

    doc = cloud.move('vm1', destination='host2', flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'reverted'), doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert cloud.world('vm1')['disks']['host1']['size_gb'] == 1

    doc = cloud.move('vm1', destination='host2', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host2')
    path = cloud.world('vm1')['disks']['host2']['path']
    assert '/_shared/g/' in path and guests.same_disk(image, path)
    assert cloud.audit() == []


def _others(agent, hosts=('host1', 'host2')):
    """What the agent sees of the other hosts' directories."""
    return [p for p in agent.sees() if p.split('/')[0] in hosts
            and p.split('/')[0] != agent.host]


def test_agents_that_share_nothing_live_migrate(isolated, image):
    """The destination accepts the migration and says where to send it; the
    source sends the memory and mirrors the disk there over the network;
    the destination confirms the guest arrived. Both ways, so that each
    host keeps its own record of the migration that left it."""
    cloud, local, agents = isolated
    vm = _boot(cloud, image)
    for source, dest in (('host1', 'host2'), ('host2', 'host1')):
        doc = cloud.move('vm1', destination=dest)
        assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
        guests.assert_runs_only_on(cloud, vm, dest)     # no QEMU left on source
        assert guests.qmp_query(cloud, vm, dest, 'query-status')['status'] == 'running'
        assert guests.same_disk(image, cloud.world('vm1')['disks'][dest]['path'])
        migration = cloud.world('vm1')['migration']
        assert (migration['source'], migration['dest'], migration['id']) == (
            source, dest, doc['id'])
        assert os.path.exists(os.path.join(local.root, source, '_migrations',
                                           vm['uuid'] + '.json'))
        # The guest's pause: the source's STOP to the destination's RESUME,
        # each seen on its own host.
        switch = [t for t in doc['subtasks'] if t['name'] == 'SwitchOverMigration'][0]
        assert switch['result']['guest_pause_ms'] > 0
        assert _others(agents['host1']) == [] and _others(agents['host2']) == []
    assert cloud.audit() == []


@pytest.mark.parametrize('isolated', [{
    'task_faults': ['TransferMemory.execute.before=fail_once'],
}], indirect=True, ids=['revert'])
def test_a_live_migration_between_agents_that_share_nothing_reverts(isolated, image):
    """Reverted after the destination accepted: its waiting QEMU, its
    arrival watcher and its disk target are gone, the guest runs on."""
    cloud, local, agents = isolated
    vm = _boot(cloud, image)
    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'reverted'), doc['reason']
    assert doc['failed_step'] == 'TransferMemory'
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert guests.qmp_query(cloud, vm, 'host1', 'query-status')['status'] == 'running'
    assert agents['host2'].sees() == ['host2']
    guests.wait_for(lambda: _arrival_watchers(local.root) == [])


@pytest.mark.parametrize('isolated', [{'agent_qemu': {'max_bandwidth': 2}}],
                         indirect=True, ids=['throttled'])
def test_a_live_migration_between_agents_that_share_nothing_is_aborted(isolated, image):
    """Aborted during the copy (48 MiB at 2 MiB/s): the source's agent
    cancels it, the destination's incoming QEMU fails and is destroyed."""
    cloud, local, agents = isolated
    vm = _boot(cloud, image)
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc)
    cloud.api.abort_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'reverted', doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert agents['host2'].sees() == ['host2']
    guests.wait_for(lambda: _arrival_watchers(local.root) == [])


def _arrival_watchers(root):
    """Arrival watchers of domains under root: their log (stderr) is
    there; a spare's command line does not name root (spare.py)."""
    found = []
    for pid in procfs.processes('arrival.py'):
        try:
            log = os.readlink('/proc/%d/fd/2' % pid)
        except OSError:
            continue
        if log.startswith(root + os.sep):
            found.append(pid)
    return found
