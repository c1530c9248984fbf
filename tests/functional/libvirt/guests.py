"""What the libvirt tests look at in the guests and the daemons.

The test guest prints a counter on its serial port every 5 ms; the serial
log is a file of the host's, which libvirt's QEMU writes.
"""

import subprocess
import uuid as uuid_mod

from move_orchestrator import cloud as cloud_mod
from tests.functional.qemu import guests as qemu_guests
from tests import waiting

parse_counters = qemu_guests.parse_counters
wait_for = waiting.wait_for


def counters(driver, instance_uuid, host):
    try:
        with open(driver.serial_path(instance_uuid, host)) as f:
            return parse_counters(f.read())
    except FileNotFoundError:
        return []


class SerialTail:
    """The source's serial log kept open, readable after cleanup deleted
    it."""

    def __init__(self, driver, instance_uuid, host):
        self.file = open(driver.serial_path(instance_uuid, host))
        self.text = ''

    def counters(self):
        self.text += self.file.read()
        return parse_counters(self.text)

    def close(self):
        self.file.close()


def assert_continues(driver, instance_uuid, tail, dest):
    """The guest went on where it stopped: dest's first count follows the
    source's last, and dest keeps counting."""
    on_source = tail.counters()
    tail.close()
    on_dest = wait_for(lambda: len(counters(driver, instance_uuid, dest)) > 3
                       and counters(driver, instance_uuid, dest))
    assert on_source and on_source[-1] < on_dest[0] <= on_source[-1] + 2, (
        on_source[-3:], on_dest[:3])
    assert on_dest == list(range(on_dest[0], on_dest[0] + len(on_dest)))


def defined_on(hosts, instance_uuid):
    """{host: state} from each daemon itself (virsh), not from our driver."""
    found = {}
    for host in hosts:
        proc = subprocess.run(['virsh', '-q', '-c', host.uri, 'domstate',
                               instance_uuid], capture_output=True, text=True)
        if proc.returncode == 0:
            found[host.name] = proc.stdout.strip()
    return found


def boot(cloud, name, host='host1', flavor='l.small', power_state='running'):
    """Boot an instance through the inventory and the driver; wait until
    its guest counts."""
    services = cloud.services
    instance = cloud_mod.boot_instance(services, name, host, flavor,
                                       image='no-image', power_state=power_state,
                                       uuid=str(uuid_mod.uuid4()))
    if power_state == 'running':
        wait_for(lambda: len(counters(services.driver, instance['uuid'], host)) > 3)
    return instance


def migrating(cloud, doc, minimum_mb=0.5):
    """Wait until the move's memory copy has sent minimum_mb."""
    def moving():
        task = cloud.api.get_task(None, doc['id'])
        assert task['state'] not in ('completed', 'reverted', 'failed'), task['reason']
        migration = cloud.services.driver.poll_migration(doc['instance'])
        return (migration and migration['status'] == 'running'
                and migration.get('transferred_mb', 0) >= minimum_mb)
    wait_for(moving)


def virsh(host, *args):
    proc = subprocess.run(['virsh', '-q', '-c', host.uri] + list(args),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


class LifecycleEvents:
    """``virsh event --loop`` on a daemon: its domains' lifecycle events,
    as libvirt words them (e.g. "Suspended Post-copy")."""

    def __init__(self, host):
        self.proc = subprocess.Popen(
            ['virsh', '-q', '-c', host.uri, 'event', '--loop', '--event',
             'lifecycle'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def stop(self):
        """The events seen, once virsh is ended."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out
