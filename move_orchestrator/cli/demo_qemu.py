"""``move-orchestrator demo --driver qemu``: the demo with real QEMU VMs.

Three simulated hosts (directories under ``[qemu] instances_path``, each VM a
real ``qemu-system-x86_64`` process running the project's tiny guest) and four
small VMs; every move type, plus a throttled live migration that an operator
aborts. Needs ``qemu-system-x86``, ``qemu-utils`` and ``binutils``.
"""

import os
import tempfile

from rich import markup

from move_orchestrator.cli import demo_abort
from move_orchestrator import cloud
from move_orchestrator.conf import qemu as qemu_conf
from move_orchestrator import exception

FLAVORS = (('q.tiny', 1, 64, 1), ('q.small', 1, 96, 1), ('q.medium', 2, 128, 2))
HOSTS = ('host1', 'host2', 'host3')
VMS = (('vm1', 'host1', 'q.tiny'), ('vm2', 'host1', 'q.tiny'),
       ('vm3', 'host2', 'q.small'), ('vm4', 'host2', 'q.tiny'))
MARKER = '.move-orchestrator-demo'
DEFAULT_PATH = [o for o in qemu_conf.OPTS if o.name == 'instances_path'][0].default
ABORT_BANDWIDTH = 4     # MiB/s: the aborted live migration would take ~12 s


def _default_path():
    """./mo-qemu, or a temporary directory when the unix socket paths
    under it would be too long (108 bytes)."""
    path = os.path.abspath('mo-qemu')
    if len(path) > 48:
        path = os.path.join(tempfile.gettempdir(), 'mo-qemu-%d' % os.getuid())
    return path


def configure(conf):
    """[compute] driver = qemu and small VMs; returns the instances path.

    The path is the configured one, or ./mo-qemu. It must be empty or the
    demo's own from an earlier run (whose VMs are stopped and deleted).
    """
    conf.set_override('driver', 'qemu', 'compute')
    path = conf.qemu.instances_path
    if path == DEFAULT_PATH:
        path = _default_path()
        conf.set_override('instances_path', path, 'qemu')
    conf.set_override('ram_limit_mb', conf.qemu.ram_limit_mb or 128, 'qemu')
    conf.set_override('max_bandwidth', 0, 'qemu')
    if os.path.isdir(path) and os.listdir(path) and \
            not os.path.exists(os.path.join(path, MARKER)):
        raise exception.Invalid(
            'the demo needs an empty [qemu] instances_path, and %s is not' % path)
    return path


def reset(driver):
    """Stop and delete what an earlier demo left, then mark the directory."""
    driver.destroy_all()
    os.makedirs(driver.root, exist_ok=True)
    open(os.path.join(driver.root, MARKER), 'w').close()


def seed(services):
    inventory = services.inventory
    for flavor in FLAVORS:
        inventory.create_flavor(*flavor)
    for host in HOSTS:
        inventory.create_host(host, vcpus=8, ram_mb=2048, disk_gb=50, cpu_model='qemu64')
    return [cloud.boot_instance(services, name, host, flavor, project_id='demo',
                                user_id='demo') for name, host, flavor in VMS]


def run_moves(client, console):
    """Every move type on real VMs, then an aborted live migration."""
    if not client.embedded:
        raise exception.Invalid('the QEMU demo runs its own conductor: unset '
                                '[DEFAULT] transport_url')
    try:
        return _run_moves(client, console)
    except BaseException:
        client.services.driver.destroy_all()    # no VM left behind
        raise


def _run_moves(client, console):
    ctxt = client.context
    reset(client.services.driver)
    seed(client.services)
    console.print('[bold]A cloud of %d hosts and %d QEMU VMs[/] under %s'
                  % (len(HOSTS), len(VMS), client.services.driver.root))
    first = [client.move_instance(ctxt, 'vm1', destination='host2'),
             client.move_instance(ctxt, 'vm2', destination='host3', live=False),
             client.move_instance(ctxt, 'vm3', destination='host3', flavor='q.medium')]
    docs = [client.wait_task(ctxt, d['id']) for d in first]
    console.print('host2 goes down: vm4 is evacuated (rebuilt from its image)')
    client.set_host_state(ctxt, 'host2', 'down')
    evac = client.move_instance(ctxt, 'vm4', destination='host1')
    docs.append(client.wait_task(ctxt, evac['id']))
    client.set_host_state(ctxt, 'host2', 'up')  # repaired
    console.print('A live migration throttled to %d MiB/s, aborted by an operator'
                  % ABORT_BANDWIDTH)
    conf = client.services.conf
    conf.set_override('max_bandwidth', ABORT_BANDWIDTH, 'qemu')
    try:
        docs.append(demo_abort.abort_mid_copy(client, 'vm1', ('host3', 'host1')))
    finally:
        conf.set_override('max_bandwidth', 0, 'qemu')
    return docs


def finish(client, console, keep):
    driver = client.services.driver
    if keep:
        console.print(markup.escape(
            'The VMs keep running under %s. Go on with a config file holding '
            '[compute] driver = qemu and [qemu] instances_path = %s: '
            'move-orchestrator move vm2 --wait; move-orchestrator audit. Running '
            'the demo again stops them.' % (driver.root, driver.root)))
        return
    driver.destroy_all()
    console.print('The VMs are stopped and their disks deleted (--keep keeps them).')
