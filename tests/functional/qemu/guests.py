"""What the qemu tests do to guests and look at in them.

A guest prints a counter on its serial port every 5 ms: ``counters`` reads
it, ``SerialTail`` keeps the source's log readable after cleanup deleted it,
and ``assert_continues`` proves a live-migrated guest went on where it
stopped. ``boot`` gives each instance's disk a known pattern and keeps a
reference copy, for ``same_disk`` after the move. ``write_config`` and
``cli`` run the orchestrator as an operator would, in another process.
"""

import os
import signal
import subprocess
import sys
import textwrap
import uuid as uuid_mod

from move_orchestrator import cloud as cloud_mod
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import qmp
from tests.functional.qemu import conftest
from tests import waiting

PATTERN_OFFSET = 1 << 20      # 1 MiB of 0x5a at 1 MiB, on top of the image
wait_for = waiting.wait_for


# -- booting and comparing disks ------------------------------------------------
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
    run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a %d 1M' % PATTERN_OFFSET, disk)
    reference = str(cloud.tmp / ('%s.qcow2' % name))
    run('qemu-img', 'convert', '-O', 'qcow2', disk, reference)
    instance = cloud_mod.boot_instance(services, name, host, flavor,
                                       image=image or 'no-image',
                                       power_state=power_state, uuid=uuid)
    if power_state == 'running':
        wait_for(lambda: len(counters(cloud, instance, host)) > 3)
    return instance, reference


def run(*argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def same_disk(path_a, path_b):
    """qemu-img compare: same data (a bigger disk's extra space is zero)."""
    return subprocess.run(['qemu-img', 'compare', '-U', path_a, path_b],
                          capture_output=True).returncode == 0


# -- looking at the guests ------------------------------------------------------
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
        cmdline = procfs.cmdline(pid)
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
    # That host's part, looked at alone, is the same; its migration is the
    # latest one if it left from there, else one that left before it (each
    # source keeps its own record).
    migration = world['migration']
    part = cloud.services.driver.describe_host(inst['uuid'], host)
    assert (part['domains'], part['disks']) == (world['domains'], world['disks'])
    if migration and migration['source'] == host:
        assert part['migration'] == migration
    elif part['migration'] is not None:
        assert part['migration']['started_at'] < migration['started_at']
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
    # The destination first: until it prints, the copy may still be running
    # and the source still counting.
    on_dest = wait_for(lambda: counters(cloud, instance, dest)[:5])
    last_on_source = tail.last()
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


def kill_qemu(cloud, instance):
    """SIGKILL the instance's one QEMU process (its host dies with it)."""
    [(pid, _cmdline)] = qemu_pids(cloud, instance)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not qemu_pids(cloud, instance))


def dirty_cloud(make_cloud, **overrides):
    """8 MiB rewritten all the time and sent at 8 MiB/s: never converges."""
    return make_cloud(qemu__guest_dirty=True, qemu__guest_fill_ratio=0.125,
                      qemu__max_bandwidth=8, qemu__downtime_limit_ms=20, **overrides)


# -- the orchestrator in another process ----------------------------------------
def write_config(cloud, path, bandwidth, faults=(), resume_policy='resume'):
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


def cli(*args, wait=True):
    argv = [sys.executable, '-m', 'move_orchestrator.cli.main'] + list(args)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    if wait:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out.decode() + err.decode()
    return proc
