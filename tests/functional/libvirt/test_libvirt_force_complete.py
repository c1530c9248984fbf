"""Force-complete of a throttled live migration of a libvirt domain,
through the orchestrator: by post-copy where ``[libvirt] permit_post_copy``
(the migration started with VIR_MIGRATE_POSTCOPY, then
migrateStartPostCopy), else by suspending the guest until the copy ends.
Either way the move ends completed and the guest counts on, on the
destination."""

import pytest

from move_orchestrator.drivers.compute import base
from move_orchestrator import exception
from tests.functional.libvirt import guests

SHARED = {'host1': 'g', 'host2': 'g'}


def _force_completed(cloud, libvirt_hosts, vm, tail, doc, check=None):
    """Force-complete the move (check(), if given, right after)."""
    assert cloud.api.get_task(None, doc['id'])['state'] == 'migrating-memory'
    cloud.api.force_complete(None, doc['id'])
    if check is not None:
        check()
    doc = cloud.api.wait_task(None, doc['id'], timeout=120)
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['force-complete']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_COMPLETED
    guests.assert_continues(cloud.services.driver, vm['uuid'], tail, 'host2')
    assert guests.defined_on(libvirt_hosts, vm['uuid']) == {'host2': 'running'}
    assert cloud.audit() == []
    # Once it ended there is nothing to force: refused, nothing recorded.
    with pytest.raises(exception.InvalidTaskAction):
        cloud.api.force_complete(None, doc['id'])
    with pytest.raises(exception.MigrationNotRunning, match='completed'):
        cloud.services.driver.force_complete_migration(vm['uuid'])
    assert cloud.api.get_task(None, doc['id'])['actions'] == doc['actions']


def test_force_complete_by_post_copy(make_cloud, libvirt_hosts):
    # 48 MiB at 1 MiB/s: about 48 s of pre-copy, unless switched to
    # post-copy (not throttled: libvirt's bandwidth is pre-copy's).
    cloud = make_cloud(libvirt__max_bandwidth=1, libvirt__permit_post_copy=True,
                       libvirt__storage_groups=SHARED)
    vm = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud.services.driver, vm['uuid'], 'host1')
    # Watching since before the move: virsh has long registered when the
    # switch comes.
    events = guests.LifecycleEvents(libvirt_hosts[0])
    try:
        doc = cloud.api.move_instance(None, 'vm1', destination='host2')
        guests.migrating(cloud, doc, minimum_mb=1)
        running = cloud.services.driver.poll_migration(vm['uuid'])
        assert running['postcopy_permitted'] is True and running['remaining_mb'] > 8
        _force_completed(cloud, libvirt_hosts, vm, tail, doc)
    finally:
        seen = events.stop()
    # libvirt's own word: the source stopped for post-copy.
    assert 'Suspended Post-copy' in seen, seen


def test_force_complete_by_suspending(make_cloud, libvirt_hosts):
    """permit_post_copy false (the default): the guest is suspended, the
    copy ends, and libvirt runs it on the destination."""
    cloud = make_cloud(libvirt__max_bandwidth=4, libvirt__storage_groups=SHARED)
    vm = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud.services.driver, vm['uuid'], 'host1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc, minimum_mb=1)
    assert cloud.services.driver.poll_migration(vm['uuid'])['postcopy_permitted'] is False

    def suspended():
        # The copy goes on at 4 MiB/s, the guest paused on the source.
        migration = guests.wait_for(lambda: (lambda m: m['paused'] and m)(
            cloud.services.driver.poll_migration(vm['uuid'])))
        assert migration['status'] == base.MIGRATION_RUNNING
        assert guests.defined_on(libvirt_hosts, vm['uuid'])['host1'] == 'paused'

    _force_completed(cloud, libvirt_hosts, vm, tail, doc, check=suspended)
