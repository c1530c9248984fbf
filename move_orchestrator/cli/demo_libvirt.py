"""``move-orchestrator demo --driver libvirt``: the demo with real libvirt
domains.

Three hosts: the first three of ``[libvirt] host_uris`` when it names three
or more (real daemons, the operator's; the demo's domains are destroyed at
the end), else three libvirtd daemons of the demo's own, started as the
functional tests start them (daemons.py: needs root) and stopped at the
end with nothing left behind. Four small domains; every move type, then a
throttled live migration that an operator aborts.
"""

import contextlib
import os
import tempfile

from move_orchestrator.cli import demo_abort
from move_orchestrator import cloud
from move_orchestrator import exception

FLAVORS = (('l.tiny', 1, 64, 1), ('l.small', 1, 96, 1), ('l.medium', 2, 128, 2))
NAMES = ('host1', 'host2', 'host3')
ABORT_BANDWIDTH = 2     # MiB/s: the aborted live migration would take ~40 s


class Hosts:
    """The demo's hosts: names, and the daemons it started (if any)."""

    def __init__(self, names, root=None, daemons=()):
        self.names = names
        self.root = root
        self.daemons = list(daemons)

    @property
    def own(self):
        return self.root is not None


def _check_installed():
    from move_orchestrator.drivers.compute.libvirt import daemons
    lacking = daemons.missing()
    if lacking:
        # Unquoted: the install line is ours, and longer than a quoted value.
        raise exception.HostSoftwareMissing(
            message=exception.HostSoftwareMissing.msg_fmt % {
                'missing': ', '.join(lacking),
                'install': 'the libvirt demo needs libvirt, QEMU and binutils: '
                           + daemons.INSTALL})
    if os.geteuid() != 0:
        raise exception.Invalid(
            'the demo\'s own libvirt hosts need root (mount namespaces); '
            'or name three running daemons in [libvirt] host_uris')


def configure(conf):
    """[compute] driver = libvirt on three hosts: the configured ones, or
    daemons started here (stop them with ``finish``)."""
    configured = sorted(conf.libvirt.host_uris)
    if configured and len(configured) < 3:
        raise exception.Invalid(
            'the libvirt demo needs three hosts in [libvirt] host_uris, or none '
            '(it starts its own); %d are named' % len(configured))
    if configured:
        path = conf.libvirt.instances_path
        if os.path.isdir(path) and os.listdir(path):
            # The demo destroys its domains and deletes this directory.
            raise exception.Invalid('the demo needs an empty [libvirt] '
                                    'instances_path, and %s is not' % path)
        hosts = Hosts(configured[:3])
    else:
        _check_installed()
        from move_orchestrator.drivers.compute.libvirt import daemons
        # Short: the daemons' socket paths must stay under 108 bytes.
        root = tempfile.mkdtemp(prefix='mo-demo-', dir='/tmp')
        try:
            # Port ranges of their own: tests may run daemons meanwhile.
            started = daemons.start_hosts(root, NAMES, first_index=7)
        except BaseException:
            daemons.stop_hosts(root, [])
            raise
        hosts = Hosts(list(NAMES), root, started)
        conf.set_override('host_uris', {h.name: h.uri for h in started}, 'libvirt')
        conf.set_override('migration_addresses',
                          {h.name: '127.0.0.1' for h in started}, 'libvirt')
        conf.set_override('instances_path', os.path.join(root, 'inst'), 'libvirt')
        conf.set_override('storage_groups', {}, 'libvirt')
    conf.set_override('driver', 'libvirt', 'compute')
    conf.set_override('max_bandwidth', 0, 'libvirt')
    return hosts


def seed(services, hosts):
    inventory = services.inventory
    for flavor in FLAVORS:
        inventory.create_flavor(*flavor)
    for host in hosts.names:
        inventory.create_host(host, vcpus=8, ram_mb=2048, disk_gb=50,
                              cpu_model='qemu64')
    h1, h2, _h3 = hosts.names
    vms = (('vm1', h1, 'l.tiny'), ('vm2', h1, 'l.tiny'),
           ('vm3', h2, 'l.small'), ('vm4', h2, 'l.tiny'))
    return [cloud.boot_instance(services, name, host, flavor, image='no-image',
                                project_id='demo', user_id='demo')
            for name, host, flavor in vms]


def run_moves(client, console, hosts):
    """Every move type on real domains, then an aborted live migration."""
    ctxt = client.context
    driver = client.services.driver
    h1, h2, h3 = hosts.names
    booted = seed(client.services, hosts)
    console.print('[bold]%d libvirt hosts (%s) and %d domains[/]' % (
        len(hosts.names), 'started by the demo' if hosts.own else
        'from [libvirt] host_uris', len(booted)))
    first = [client.move_instance(ctxt, 'vm1', destination=h2),
             client.move_instance(ctxt, 'vm2', destination=h3, live=False),
             client.move_instance(ctxt, 'vm3', destination=h3, flavor='l.medium')]
    docs = [client.wait_task(ctxt, d['id']) for d in first]
    console.print('%s goes down and vm4\'s guest with it: vm4 is evacuated' % h2)
    vm4 = client.services.inventory.get_instance('vm4')['uuid']
    driver.power_off(vm4, h2)       # the guest died with its host
    client.set_host_state(ctxt, h2, 'down')
    evac = client.move_instance(ctxt, 'vm4', destination=h1)
    docs.append(client.wait_task(ctxt, evac['id']))
    client.set_host_state(ctxt, h2, 'up')  # repaired
    console.print('A live migration throttled to %d MiB/s, aborted by an operator'
                  % ABORT_BANDWIDTH)
    conf = client.services.conf
    conf.set_override('max_bandwidth', ABORT_BANDWIDTH, 'libvirt')
    try:
        docs.append(demo_abort.abort_mid_copy(client, 'vm1', (h3, h1)))
    finally:
        conf.set_override('max_bandwidth', 0, 'libvirt')
    return docs


def finish(client, console, hosts):
    """Destroy the demo's domains and disks; stop the daemons it started.
    Returns what outlived them ([] when nothing)."""
    from move_orchestrator.drivers.compute.libvirt import daemons
    problems = []
    if client is not None:
        with contextlib.suppress(Exception):
            client.shutdown()       # no step left to call the driver
        driver = client.services.driver
        try:
            driver.destroy_all()
        except exception.DriverError as e:
            problems.append('domains not destroyed: %s' % e.message)
        driver.close()
    if hosts.own:
        problems += daemons.stop_hosts(hosts.root, hosts.daemons)
    for problem in problems:
        console.print('[red]left behind: %s[/]' % problem)
    if not problems:
        console.print('The domains are destroyed and their disks deleted%s.' % (
            ', the demo\'s libvirt daemons stopped: nothing is left behind'
            if hosts.own else ''))
    return problems
