"""Whole moves of real QEMU VMs through the orchestrator.

Every move type runs through the conductor (TaskFlow engines, persistence,
inventory) with ``[compute] driver = qemu``: a cloud of three simulated
hosts on loopback and 64 MiB guests (48 MiB of it filled with data, so
live migrations move real pages). The guest prints a counter on its serial
port every 5 ms, which proves that a live-migrated guest goes on where it
stopped; disks carry known data (an image plus a pattern written into each
instance's disk before it boots), compared with ``qemu-img compare`` after
the move.

At the end of every test every QEMU process, socket and disk is gone (the
``qemu_root`` fixture checks it again for the whole session).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid as uuid_mod

import pytest
from rich.console import Console

from move_orchestrator.cli import render
from move_orchestrator import cloud as cloud_mod
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator import exception
from tests.functional.qemu import conftest
from tests import harness
from tests import waiting

FLAVORS = (('q.small', 1, 64, 1), ('q.big', 2, 96, 2))
HOSTS = ('host1', 'host2', 'host3')
PATTERN_OFFSET = 1 << 20      # 1 MiB of 0x5a at 1 MiB, on top of the image
QEMU_DEFAULTS = {
    'compute__driver': 'qemu', 'qemu__storage_groups': {},
    'qemu__max_bandwidth': 0, 'qemu__downtime_limit_ms': 300,
    'qemu__completion_timeout_per_gib': 0,
    'qemu__completion_timeout_action': 'abort',
    'qemu__guest_dirty': False, 'qemu__guest_fill_ratio': 0.75,
    # A real hypervisor: poll it every 20 ms, not every 1 ms.
    'conductor__poll_interval': 0.02,
}


# -- the cloud ------------------------------------------------------------------
def seed(services):
    inventory = services.inventory
    for flavor in FLAVORS:
        inventory.create_flavor(*flavor)
    for host in HOSTS:
        inventory.create_host(host, vcpus=4, ram_mb=1024, disk_gb=20,
                              cpu_model='qemu64')


@pytest.fixture
def image(tmp_path_factory):
    """A 4 MiB raw image: 2 MiB of random data, then zeros."""
    path = tmp_path_factory.mktemp('image') / 'image.raw'
    path.write_bytes(os.urandom(2 << 20) + b'\0' * (2 << 20))
    return str(path)


@pytest.fixture
def make_cloud(qemu_root, tmp_path):
    """make_cloud(**overrides) -> a harness.Cloud running the qemu driver.

    Its hosts live in a directory of their own under qemu_root; at teardown
    every domain, disk, socket and migration record under it is destroyed
    and checked gone.
    """
    path = os.path.join(qemu_root, 'm%d' % len(os.listdir(qemu_root)))
    os.makedirs(path)
    clouds = []

    def factory(task_faults=(), **overrides):
        opts = dict(QEMU_DEFAULTS, qemu__instances_path=path)
        opts.update(overrides)
        cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'),
                              task_faults=task_faults, seed=False, **opts)
        clouds.append(cloud)
        if not cloud.services.inventory.list_hosts():
            seed(cloud.services)
        cloud.tmp = tmp_path
        return cloud

    yield factory
    try:
        if clouds:
            clouds[0].services.driver.destroy_all()
    finally:
        for cloud in clouds:
            cloud.close()
    assert conftest.qemu_processes(path) == []
    assert not os.path.exists(path)


def boot(cloud, name, host='host1', flavor='q.small', image=None,
         power_state='running'):
    """Boot an instance whose disk holds the image plus a known pattern.

    Returns the instance and a reference copy of its disk, saved before it
    ever ran, to compare the moved disk with.
    """
    services = cloud.services
    driver = services.driver
    uuid = str(uuid_mod.uuid4())
    disk_gb = services.inventory.get_flavor(flavor)['disk_gb']
    driver.create_disk({'uuid': uuid, 'disk_gb': disk_gb, 'image': image}, host)
    disk = driver.disk_path(uuid, host)
    _run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a %d 1M' % PATTERN_OFFSET, disk)
    reference = str(cloud.tmp / ('%s.qcow2' % name))
    _run('qemu-img', 'convert', '-O', 'qcow2', disk, reference)
    instance = cloud_mod.boot_instance(services, name, host, flavor,
                                       image=image or 'no-image',
                                       power_state=power_state, uuid=uuid)
    if power_state == 'running':
        wait_for(lambda: len(counters(cloud, instance, host)) > 3)
    return instance, reference


def _run(*argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def same_disk(path_a, path_b):
    """qemu-img compare: same data (a bigger disk's extra space is zero)."""
    return subprocess.run(['qemu-img', 'compare', '-U', path_a, path_b],
                          capture_output=True).returncode == 0


# -- looking at the guests -------------------------------------------------------
wait_for = waiting.wait_for


def root(cloud):
    """The hosts' directory (the test's own, when agents run the driver)."""
    return getattr(cloud, 'root', None) or cloud.services.driver.root


def serial_path(cloud, instance, host):
    return os.path.join(root(cloud), host, instance['uuid'],
                        'serial.log')


def parse_counters(text):
    lines = text.split('\n')[:-1]     # the last one may be partial
    return [int(line, 16) for line in lines if len(line) == 8]


def counters(cloud, instance, host):
    try:
        with open(serial_path(cloud, instance, host)) as f:
            return parse_counters(f.read())
    except FileNotFoundError:
        return []


def assert_counting(cloud, instance, host):
    count = wait_for(lambda: counters(cloud, instance, host))[-1]
    wait_for(lambda: counters(cloud, instance, host)[-1] > count)


def qemu_pids(cloud, instance):
    """Live QEMU processes of the instance (on any host)."""
    pids = []
    for pid in conftest.qemu_processes(root(cloud)):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if ('guest=%s' % instance['uuid']).encode() in cmdline:
            pids.append((pid, cmdline))
    return pids


def assert_runs_only_on(cloud, instance, host, power='running'):
    """Inventory, hypervisor and processes agree: one domain, on host."""
    inst = cloud.instance(instance['name'])
    assert inst['host'] == host and inst['move_id'] is None
    world = cloud.world(instance['name'])
    state = base.RUNNING if power == 'running' else base.SHUTOFF
    assert world['domains'] == {host: {'state': state, 'vcpus': world['domains'][host]['vcpus'],
                                       'ram_mb': world['domains'][host]['ram_mb']}}
    assert list(world['disks']) == [host]
    assert world['bindings'] == {host: True}
    pids = qemu_pids(cloud, instance)
    if power == 'running':
        assert len(pids) == 1, pids
        assert ('/%s/%s/' % (host, instance['uuid'])).encode() in pids[0][1]
        assert_counting(cloud, instance, host)
    else:
        assert pids == []
    assert cloud.audit() == []


def qmp_query(cloud, instance, host, command):
    sock = os.path.join(root(cloud), host, instance['uuid'], 'qmp.sock')
    with qmp.QMPClient(sock) as q:
        return q.execute(command)


class SerialTail:
    """Keeps the source's serial log open: after cleanup has deleted it,
    what the guest printed there can still be read."""

    def __init__(self, cloud, instance, host):
        self.file = open(serial_path(cloud, instance, host))
        self.text = ''

    def last(self):
        self.text += self.file.read()
        self.file.close()
        return parse_counters(self.text)[-1]


def assert_continues(cloud, instance, tail, dest):
    last_on_source = tail.last()
    on_dest = wait_for(lambda: counters(cloud, instance, dest)[:5])
    # The line the source was printing when it paused is finished on the
    # destination: its first complete line is the next one or the one after.
    assert last_on_source < on_dest[0] <= last_on_source + 2, (last_on_source, on_dest)
    assert on_dest == list(range(on_dest[0], on_dest[0] + len(on_dest)))


def migrating(cloud, doc, minimum_mb=0.5):
    """Wait until the move's memory copy has sent minimum_mb."""
    def moving():
        task = cloud.api.get_task(None, doc['id'])
        assert task['state'] not in ('completed', 'reverted', 'failed'), (
            task['reason'], cloud.services.driver.describe(doc['instance'])['migration'])
        if task['state'] != 'migrating-memory':
            return None
        migration = cloud.services.driver.describe(doc['instance'])['migration']
        return migration and migration.get('transferred_mb', 0) >= minimum_mb
    wait_for(moving)


# -- every move type ---------------------------------------------------------------
@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_live_migrate(make_cloud, image, shared):
    groups = {'host1': 'g', 'host2': 'g'} if shared else {}
    cloud = make_cloud(qemu__storage_groups=groups)
    vm, reference = boot(cloud, 'vm1', image=image)
    tail = SerialTail(cloud, vm, 'host1')

    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    subtasks = {s['name']: s for s in doc['subtasks']}
    assert subtasks['TransferMemory']['progress'] == 1.0
    # The record shows what the switch-over found: QEMU's figures.
    switched = subtasks['SwitchOverMigration']['result']
    assert switched['status'] == base.MIGRATION_COMPLETED
    assert switched['transferred_mb'] > 0 and switched['downtime_ms'] >= 0
    console = Console(record=True, width=200)
    render.print_task(doc, console=console)
    assert 'guest paused %s ms' % switched['downtime_ms'] in console.export_text()
    assert_continues(cloud, vm, tail, 'host2')
    assert_runs_only_on(cloud, vm, 'host2')
    # The disk followed (mirrored, or shared): the data is the same.
    world = cloud.world('vm1')
    assert same_disk(reference, world['disks']['host2']['path'])
    assert world['migration']['status'] == base.MIGRATION_COMPLETED
    assert not os.path.exists(os.path.join(cloud.services.driver.root, 'host1', vm['uuid']))


def test_live_migrate_again_along_an_earlier_route(make_cloud, image):
    """QEMU's last migration stays on record after it ends; a later live
    migration between the same two hosts (here after a cold migration back)
    must run its own, not take the earlier one's for finished. Before the
    migration had the move's id, that later move reverted at its
    switch-over: "destination host2 does not run the instance"."""
    cloud = make_cloud()
    vm, _reference = boot(cloud, 'vm1', image=image)
    first = cloud.move('vm1', destination='host2')
    assert first['state'] == 'completed', first['reason']
    back = cloud.move('vm1', destination='host1', live=False)
    assert back['state'] == 'completed', back['reason']
    tail = SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), doc['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['id'], migration['status']) == (doc['id'], base.MIGRATION_COMPLETED)
    assert_continues(cloud, vm, tail, 'host2')
    assert_runs_only_on(cloud, vm, 'host2')


def test_cold_migrate(make_cloud, image):
    cloud = make_cloud()
    running, running_ref = boot(cloud, 'vm1', image=image)
    stopped, stopped_ref = boot(cloud, 'vm2', image=image, power_state='shutdown')

    doc = cloud.move('vm1', destination='host2', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    assert_runs_only_on(cloud, running, 'host2')
    assert same_disk(running_ref, cloud.world('vm1')['disks']['host2']['path'])

    doc = cloud.move('vm2', destination='host3')
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), doc['reason']
    assert_runs_only_on(cloud, stopped, 'host3', power='shutdown')
    assert same_disk(stopped_ref, cloud.world('vm2')['disks']['host3']['path'])


@pytest.mark.parametrize('dest', ['host2', 'host1'], ids=['other-host', 'same-host'])
def test_resize(make_cloud, image, dest):
    cloud = make_cloud(move__allow_resize_to_same_host=True)
    vm, reference = boot(cloud, 'vm1', image=image)
    assert len(qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 1

    doc = cloud.move('vm1', destination=dest, flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'completed'), doc['reason']
    assert cloud.instance('vm1')['flavor'] == 'q.big'
    assert_runs_only_on(cloud, vm, dest)
    # What the QEMU process really has, not what the driver wrote down.
    assert len(qmp_query(cloud, vm, dest, 'query-cpus-fast')) == 2
    memory = qmp_query(cloud, vm, dest, 'query-memory-size-summary')
    assert memory['base-memory'] == 96 << 20
    disk = cloud.world('vm1')['disks'][dest]
    assert disk['size_gb'] == 2
    assert same_disk(reference, disk['path'])


def test_evacuate(make_cloud, image):
    cloud = make_cloud()
    vm, _reference = boot(cloud, 'vm1', image=image)
    # host1 dies: its QEMU process with it.
    [(pid, _cmdline)] = qemu_pids(cloud, vm)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not qemu_pids(cloud, vm))
    cloud.services.inventory.set_host_state('host1', 'down')

    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    cloud.services.inventory.set_host_state('host1', 'up')    # repaired
    assert_runs_only_on(cloud, vm, 'host3')
    # Rebuilt from the image: the image's data, not the lost disk's pattern.
    rebuilt = cloud.world('vm1')['disks']['host3']['path']
    assert same_disk(image, rebuilt)


# -- failures, abort, force-complete, timeout -------------------------------------
PHASE_FAULTS = [
    ('live-migrate', 'ClaimDestination.execute.after=fail', 'host2'),      # claim
    ('live-migrate', 'CheckLiveCompatibility.execute=fail', 'host2'),      # pre-check
    ('live-migrate', 'TransferMemory.execute.after=fail', 'host2'),        # transfer
    ('live-migrate', 'UpdateInstanceHost.execute.after=fail', 'host2'),    # switch-over
    ('cold-migrate', 'CopyDisk.execute.after=fail', 'host2'),              # transfer
    ('resize', 'VerifyResize.execute.after=fail', 'host2'),                # switch-over
    ('resize', 'VerifyResize.execute.after=fail', 'host1'),                # same host
]


@pytest.mark.parametrize('move_type,fault,dest', PHASE_FAULTS, ids=[
    '%s-%s%s' % (t, f.split('.')[0], '-same-host' if d == 'host1' else '')
    for t, f, d in PHASE_FAULTS])
def test_failure_in_a_phase_reverts(make_cloud, image, move_type, fault, dest):
    cloud = make_cloud(task_faults=[fault], move__allow_resize_to_same_host=True)
    vm, reference = boot(cloud, 'vm1', image=image)
    request = {'destination': dest, 'live': move_type == 'live-migrate',
               'flavor': 'q.big' if move_type == 'resize' else None}

    doc = cloud.move('vm1', **request)
    assert (doc['type'], doc['state']) == (move_type, 'reverted'), doc['reason']
    assert doc['failed_step'] == fault.split('.')[0]
    assert cloud.claims_of(doc['id']) == []
    assert_runs_only_on(cloud, vm, 'host1')
    assert len(qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 1
    assert same_disk(reference, cloud.world('vm1')['disks']['host1']['path'])
    if move_type == 'live-migrate':
        # Paused and resumed at most, never restarted: one count, no gap.
        seen = counters(cloud, vm, 'host1')
        assert seen == list(range(seen[0], seen[0] + len(seen)))


@pytest.mark.parametrize('fault', [
    'CopyDisk.execute=fail',                # before the grow: nothing to undo
    'CopyDisk.execute.after=fail',          # grown
    'VerifyResize.execute.after=fail',      # grown, and run by host2
])
def test_resize_within_a_storage_group_reverts_the_disk_size(make_cloud, image, fault):
    """Both hosts reach one disk file, which the resize grows in place: a
    revert gives it back its old size, as on one host."""
    cloud = make_cloud(task_faults=[fault],
                       qemu__storage_groups={'host1': 'g', 'host2': 'g'})
    vm, reference = boot(cloud, 'vm1', image=image)

    doc = cloud.move('vm1', destination='host2', flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'reverted'), doc['reason']
    assert doc['failed_step'] == fault.split('.')[0]
    assert cloud.instance('vm1')['flavor'] == 'q.small'
    assert_runs_only_on(cloud, vm, 'host1')
    disk = cloud.world('vm1')['disks']['host1']
    assert disk['size_gb'] == 1
    # What the file says, not only the driver.
    info = json.loads(_run('qemu-img', 'info', '-U', '--output=json', disk['path']))
    assert info['virtual-size'] == 1 << 30
    assert same_disk(reference, disk['path'])


def test_abort_during_a_throttled_live_migration(make_cloud, image):
    # 48 MiB at 2 MiB/s: about 24 s, if nobody aborted it.
    cloud = make_cloud(qemu__max_bandwidth=2)
    vm, reference = boot(cloud, 'vm1', image=image)
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    migrating(cloud, doc)

    cloud.api.abort_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'reverted', doc['reason']
    assert 'aborted' in doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    assert_runs_only_on(cloud, vm, 'host1')
    assert same_disk(reference, cloud.world('vm1')['disks']['host1']['path'])


@pytest.mark.parametrize('shared', [False, True], ids=['local-storage', 'shared-storage'])
def test_one_vm_through_every_move_type_in_turn(make_cloud, image, shared):
    """What each move leaves behind is what the next one starts from: a
    resize after a live migration, a live migration of the resized VM, a
    cold migration back and an evacuation, with the guest's counter
    continuing across each live migration and the audit clean after each."""
    groups = {'host1': 'g', 'host2': 'g', 'host3': 'g'} if shared else {}
    cloud = make_cloud(qemu__storage_groups=groups)
    vm, reference = boot(cloud, 'vm1', image=image)

    def move(dest, want_type, reference=reference, **kwargs):
        tail = SerialTail(cloud, vm, cloud.instance('vm1')['host'])
        doc = cloud.move('vm1', destination=dest, **kwargs)
        assert (doc['type'], doc['state']) == (want_type, 'completed'), doc['reason']
        if want_type == 'live-migrate':
            assert_continues(cloud, vm, tail, dest)
        else:
            tail.file.close()
        assert_runs_only_on(cloud, vm, dest)
        assert same_disk(reference, cloud.world('vm1')['disks'][dest]['path'])
        return doc

    move('host2', 'live-migrate')
    move('host1', 'resize', flavor='q.big')
    assert len(qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 2
    move('host2', 'live-migrate')
    # The resized VM went as it is: two vCPUs, 96 MiB.
    assert len(qmp_query(cloud, vm, 'host2', 'query-cpus-fast')) == 2
    assert qmp_query(cloud, vm, 'host2', 'query-memory-size-summary')['base-memory'] == 96 << 20
    move('host1', 'cold-migrate', live=False)
    move('host2', 'live-migrate')
    # host2 dies with its QEMU process; the VM is rebuilt on host3.
    [(pid, _cmdline)] = qemu_pids(cloud, vm)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not qemu_pids(cloud, vm))
    cloud.services.inventory.set_host_state('host2', 'down')
    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('evacuate', 'completed'), doc['reason']
    cloud.services.inventory.set_host_state('host2', 'up')
    assert_runs_only_on(cloud, vm, 'host3')
    # Rebuilt from the image, unless host3 reaches the disk: then it is kept.
    move('host1', 'live-migrate', reference=reference if shared else image)


def test_live_migrate_again_after_its_destination_died(make_cloud, image):
    """A migration that failed stays on record as failed: trying the same
    route again must run a new one. (It was taken for this move's own,
    failed while the conductor was away, and every retry reverted.)"""
    cloud = make_cloud(qemu__max_bandwidth=2)
    vm, reference = boot(cloud, 'vm1', image=image)
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    migrating(cloud, doc)
    with open(os.path.join(root(cloud), 'host2', vm['uuid'], 'pid')) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert (doc['state'], doc['failed_step']) == ('reverted', 'TransferMemory'), doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_FAILED
    assert_runs_only_on(cloud, vm, 'host1')
    # The mirror into the dead destination's disk ended with the memory copy.
    assert qmp_query(cloud, vm, 'host1', 'query-block-jobs') == []

    cloud.override('max_bandwidth', 0, 'qemu')
    tail = SerialTail(cloud, vm, 'host1')
    again = cloud.move('vm1', destination='host2')
    assert again['state'] == 'completed', again['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['id'], migration['status']) == (again['id'], base.MIGRATION_COMPLETED)
    assert_continues(cloud, vm, tail, 'host2')
    assert_runs_only_on(cloud, vm, 'host2')
    assert same_disk(reference, cloud.world('vm1')['disks']['host2']['path'])


def dirty_cloud(make_cloud, **overrides):
    """8 MiB rewritten all the time and sent at 8 MiB/s: never converges."""
    return make_cloud(qemu__guest_dirty=True, qemu__guest_fill_ratio=0.125,
                      qemu__max_bandwidth=8, qemu__downtime_limit_ms=20, **overrides)


def test_force_complete_through_post_copy(make_cloud):
    cloud = dirty_cloud(make_cloud)
    vm, _reference = boot(cloud, 'vm1')
    tail = SerialTail(cloud, vm, 'host1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    # More than the guest's 8 MiB sent, and still not converged.
    migrating(cloud, doc, minimum_mb=12)
    assert cloud.api.get_task(None, doc['id'])['state'] == 'migrating-memory'

    cloud.api.force_complete(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['force-complete']
    migration = cloud.world('vm1')['migration']
    assert migration['status'] == base.MIGRATION_COMPLETED
    assert migration['postcopy'] is True
    assert_continues(cloud, vm, tail, 'host2')
    assert_runs_only_on(cloud, vm, 'host2')


def test_force_complete_refused_without_post_copy(make_cloud, image):
    """[qemu] permit_post_copy = false: QEMU never gets postcopy-ram, a
    force-complete is refused with the reason and changes nothing, and a
    migration that converges completes as usual."""
    cloud = dirty_cloud(make_cloud, qemu__permit_post_copy=False)
    vm, _reference = boot(cloud, 'vm1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    migrating(cloud, doc, minimum_mb=2)
    caps = {c['capability']: c['state'] for c in
            qmp_query(cloud, vm, 'host1', 'query-migrate-capabilities')}
    assert caps['postcopy-ram'] is False and caps['pause-before-switchover'] is True
    with pytest.raises(exception.InvalidTaskAction, match='permit_post_copy'):
        cloud.api.force_complete(None, doc['id'])
    task = cloud.api.get_task(None, doc['id'])
    assert (task['state'], task['actions']) == ('migrating-memory', [])
    cloud.api.abort_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'reverted', doc['reason']
    assert_runs_only_on(cloud, vm, 'host1')

    cloud.override('guest_dirty', False, 'qemu')
    cloud.override('max_bandwidth', 0, 'qemu')
    quiet, reference = boot(cloud, 'vm2', image=image)
    tail = SerialTail(cloud, quiet, 'host1')
    doc = cloud.move('vm2', destination='host2')
    assert doc['state'] == 'completed', doc['reason']
    assert cloud.world('vm2')['migration']['postcopy'] is False
    assert_continues(cloud, quiet, tail, 'host2')
    assert_runs_only_on(cloud, quiet, 'host2')


def test_completion_timeout_without_post_copy_cancels(make_cloud):
    cloud = dirty_cloud(make_cloud, qemu__completion_timeout_per_gib=1,
                        qemu__completion_timeout_action='force_complete',
                        qemu__permit_post_copy=False)
    vm, _reference = boot(cloud, 'vm1')
    doc = cloud.move('vm1', destination='host2')
    assert doc['state'] == 'reverted', doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    assert_runs_only_on(cloud, vm, 'host1')


@pytest.mark.parametrize('action', ['abort', 'force_complete'])
def test_completion_timeout(make_cloud, action):
    # 64 MiB: a timeout of 1 s per GiB is 1 s.
    cloud = dirty_cloud(make_cloud, qemu__completion_timeout_per_gib=1,
                        qemu__completion_timeout_action=action)
    vm, _reference = boot(cloud, 'vm1')
    doc = cloud.move('vm1', destination='host2')
    migration = cloud.world('vm1')['migration']
    if action == 'abort':
        assert doc['state'] == 'reverted', doc['reason']
        assert 'cancelled' in doc['reason']
        assert migration['status'] == base.MIGRATION_CANCELLED
        assert_runs_only_on(cloud, vm, 'host1')
    else:
        assert doc['state'] == 'completed', doc['reason']
        assert migration['postcopy'] is True
        assert_runs_only_on(cloud, vm, 'host2')


# -- a conductor killed during a real live migration -------------------------------
def _config(cloud, path, bandwidth, faults=(), resume_policy='resume'):
    with open(path, 'w') as f:
        f.write(textwrap.dedent('''\
            [database]
            connection = {db}
            [compute]
            driver = qemu
            [qemu]
            instances_path = {root}
            max_bandwidth = {bw}
            [conductor]
            poll_interval = 0.02
            resume_policy = {policy}
            [fault_injection]
            task_faults = {faults}
            ''').format(db=cloud.url, root=cloud.services.driver.root,
                        bw=bandwidth, faults=','.join(faults),
                        policy=resume_policy))
    return str(path)


def _cli(*args, wait=True):
    argv = [sys.executable, '-m', 'move_orchestrator.cli.main'] + list(args)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    if wait:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out.decode() + err.decode()
    return proc


@pytest.mark.parametrize('when,policy,outcome', [
    ('at-the-switch-over-point', 'resume', 'completed'),
    ('mid-transfer', 'resume', 'completed'),
    ('mid-transfer', 'rollback', 'reverted'),
])
def test_conductor_killed_during_a_live_migration(make_cloud, image, when, policy, outcome):
    """SIGKILL the conductor; a new one finds out from QEMU what happened
    and carries the move on (or rolls it back, as its resume_policy says)."""
    bandwidth = 0 if when == 'at-the-switch-over-point' else 8    # MiB/s
    cloud = make_cloud(qemu__max_bandwidth=bandwidth)
    vm, reference = boot(cloud, 'vm1', image=image)
    tail = SerialTail(cloud, vm, 'host1')
    url = cloud.url
    cloud.close()                  # the database is the subprocesses' now
    faults = (['TransferMemory.execute.after=kill']
              if when == 'at-the-switch-over-point' else [])
    first = _config(cloud, cloud.tmp / 'first.conf', bandwidth, faults)
    proc = _cli('--config-file', first, 'move', 'vm1', '--to', 'host2', wait=False)
    if when == 'mid-transfer':
        def transferring():
            migration = cloud.services.driver.describe(vm['uuid'])['migration']
            assert proc.poll() is None, (migration, proc.communicate())
            return migration and migration.get('transferred_mb', 0) > 1
        wait_for(transferring)
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # Nobody runs the move now; QEMU goes on (or waits at the switch-over).
    migration = cloud.services.driver.describe(vm['uuid'])['migration']
    assert migration['status'] in (base.MIGRATION_RUNNING, base.MIGRATION_READY)

    second = _config(cloud, cloud.tmp / 'second.conf', bandwidth, resume_policy=policy)
    code, output = _cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud(qemu__max_bandwidth=8)    # the same database, to look
    assert cloud.url == url
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['state'] == outcome, doc['reason']
    host = 'host2' if outcome == 'completed' else 'host1'
    if outcome == 'completed':
        assert_continues(cloud, vm, tail, 'host2')
    assert_runs_only_on(cloud, vm, host)
    assert same_disk(reference, cloud.world('vm1')['disks'][host]['path'])


# -- the demo --------------------------------------------------------------------
def test_demo_with_qemu(qemu_root, tmp_path):
    path = os.path.join(qemu_root, 'demo')
    conf = tmp_path / 'demo.conf'
    conf.write_text('[database]\nconnection = sqlite:///%s\n[qemu]\ninstances_path = %s\n'
                    % (tmp_path / 'demo.db', path))
    code, output = _cli('--config-file', str(conf), 'demo', '--driver', 'qemu')
    assert code == 0, [line for line in output.splitlines() if '│' in line
                       or 'ERROR' in line] or output
    assert 'audit: no violations' in output
    for move_type in ('live-migrate', 'cold-migrate', 'resize', 'evacuate'):
        assert move_type in output
    assert 'aborted' in output
    assert conftest.qemu_processes(path) == []
    assert not os.path.exists(path)


# -- every task, opt-in: tox -e exhaustive (about 12 minutes on 2 cores) ----------
def _every_main_task():
    from move_orchestrator.moves import types as move_types
    for type_name in ('live-migrate', 'cold-migrate', 'resize'):
        for step in move_types.get(type_name).steps:
            if step.task.phase != 'cleanup':
                for when in ('execute', 'execute.after'):
                    yield type_name, '%s.%s=fail' % (step.task.__name__, when)


@pytest.mark.exhaustive  # tox -e exhaustive: a failure at every task, real VMs
@pytest.mark.parametrize('move_type,fault', list(_every_main_task()))
def test_failure_in_every_task_reverts(make_cloud, image, move_type, fault):
    test_failure_in_a_phase_reverts(make_cloud, image, move_type, fault, 'host2')


def _every_kill_point():
    from move_orchestrator.moves import types as move_types
    for type_name in ('live-migrate', 'cold-migrate', 'resize'):
        for step in move_types.get(type_name).steps:
            for when in ('execute', 'execute.after'):
                for policy in ('resume', 'rollback'):
                    yield type_name, '%s.%s' % (step.task.__name__, when), policy


@pytest.mark.exhaustive  # tox -e exhaustive: a kill at every task, real VMs
@pytest.mark.parametrize('move_type,point,policy', list(_every_kill_point()))
def test_conductor_killed_at_every_task(make_cloud, image, move_type, point, policy):
    cloud = make_cloud()
    vm, reference = boot(cloud, 'vm1', image=image)
    cloud.close()
    first = _config(cloud, cloud.tmp / 'first.conf', 0, ['%s=kill' % point])
    args = {'live-migrate': ['--live'], 'cold-migrate': ['--cold'],
            'resize': ['--flavor', 'q.big']}[move_type]
    code, output = _cli('--config-file', first, 'move', 'vm1', '--to', 'host2', *args)
    assert code == -signal.SIGKILL, output
    second = _config(cloud, cloud.tmp / 'second.conf', 0, resume_policy=policy)
    code, output = _cli('--config-file', second, 'conductor', '--until-idle')
    assert code == 0, output

    cloud = make_cloud()
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    assert doc['type'] == move_type
    cleanup = point.split('.')[0] in ('DestroySource', 'UnbindSourcePorts',
                                      'ReleaseSourceClaim')
    outcome = 'completed' if policy == 'resume' or cleanup else 'reverted'
    assert doc['state'] == outcome, doc['reason']
    host = 'host2' if outcome == 'completed' else 'host1'
    assert_runs_only_on(cloud, vm, host)
    assert same_disk(reference, cloud.world('vm1')['disks'][host]['path'])
