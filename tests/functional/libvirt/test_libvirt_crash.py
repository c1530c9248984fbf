"""A conductor SIGKILLed during a libvirt live migration; the next one
carries on from what libvirt says.

libvirt's peer-to-peer migration is driven by the source's daemon: it goes
on without the conductor that started it. The next conductor resumes (or
rolls back, cancelling what still runs) as its resume_policy says.
"""

import signal
import textwrap

import pytest

from move_orchestrator.drivers.compute import base
from tests.functional.libvirt import guests
from tests.functional.qemu import guests as qemu_guests


def write_config(cloud, driver, path, hosts, resume_policy):
    with open(path, 'w') as f:
        f.write(textwrap.dedent('''\
            [database]
            connection = {db}
            [compute]
            driver = libvirt
            [libvirt]
            instances_path = {root}
            host_uris = {uris}
            migration_addresses = {addresses}
            storage_groups = host1:g,host2:g
            max_bandwidth = 4
            [conductor]
            poll_interval = 0.02
            resume_policy = {policy}
            ''').format(db=cloud.url, root=driver.root, policy=resume_policy,
                        uris=','.join('%s:%s' % (h.name, h.uri) for h in hosts),
                        addresses=','.join('%s:127.0.0.1' % h.name for h in hosts)))
    return str(path)


@pytest.mark.parametrize('policy', ['resume', 'rollback'])
def test_conductor_killed_mid_transfer(make_cloud, make_driver, libvirt_hosts, policy):
    # 48 MiB at 4 MiB/s: about 12 s.
    opts = dict(libvirt__max_bandwidth=4,
                libvirt__storage_groups={'host1': 'g', 'host2': 'g'})
    cloud = make_cloud(**opts)
    vm = guests.boot(cloud, 'vm1')
    root = cloud.services.driver.root
    cloud.close()                  # the database is the subprocesses' now
    # To look at the hosts: made after the close, which clears the
    # [libvirt] overrides of every ConfigOpts (they share the group).
    driver = make_driver(instances_path=root,
                         storage_groups={'host1': 'g', 'host2': 'g'})
    first = write_config(cloud, driver, cloud.tmp / 'first.conf', libvirt_hosts, policy)
    proc = qemu_guests.cli('--config-file', first, 'move', 'vm1', '--to', 'host2',
                           '--wait', wait=False)

    def transferring():
        migration = driver.poll_migration(vm['uuid'])
        assert proc.poll() is None, (migration, proc.communicate())
        return migration and migration.get('transferred_mb', 0) > 1
    guests.wait_for(transferring)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL

    code, output = qemu_guests.cli('--config-file', first, 'conductor', '--until-idle')
    assert code == 0, output
    cloud = make_cloud(**opts)     # the same database, to look
    [doc] = cloud.api.list_tasks(None)
    doc = cloud.api.get_task(None, doc['id'])
    # Rolled back unless libvirt had finished the copy by then (past the
    # point of no return, it completes).
    assert doc['state'] in (('completed',) if policy == 'resume'
                            else ('reverted', 'completed')), doc['reason']
    host = 'host2' if doc['state'] == 'completed' else 'host1'
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {host: 'running'}
    assert cloud.instance('vm1')['host'] == host
    if doc['state'] == 'reverted':
        assert driver.poll_migration(vm['uuid'])['status'] == base.MIGRATION_CANCELLED
    assert cloud.audit() == []
    print('%s: %s' % (policy, doc['state']))
