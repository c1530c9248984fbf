"""Real QEMU moves that fail, are aborted, or do not converge.

A failure injected in each phase reverts and leaves the VM running on the
source; an abort during a throttled migration reverts; a guest that dirties
memory faster than the bandwidth completes through post-copy when forced or
timed out, or is cancelled.
"""

import json
import os
import signal

import pytest

from move_orchestrator.drivers.compute import base
from tests.functional.qemu import guests


# -- a failure in each phase -----------------------------------------------------
PHASE_FAULTS = [
    ('live-migrate', 'ClaimDestination.execute.after=fail', 'host2'),      # claim
    ('live-migrate', 'CheckLiveCompatibility.execute=fail', 'host2'),      # pre-check
    ('live-migrate', 'PrepareIncoming.execute.after=fail', 'host2'),       # transfer
    ('live-migrate', 'TransferMemory.execute=fail', 'host2'),              # transfer
    ('cold-migrate', 'CopyDisk.execute.after=fail', 'host2'),              # transfer
    ('resize', 'VerifyResize.execute.after=fail', 'host2'),                # switch-over
    ('resize', 'VerifyResize.execute.after=fail', 'host1'),                # same host
]


@pytest.mark.parametrize('move_type,fault,dest', PHASE_FAULTS, ids=[
    '%s-%s%s' % (t, f.split('.')[0], '-same-host' if d == 'host1' else '')
    for t, f, d in PHASE_FAULTS])
def test_failure_in_a_phase_reverts(make_cloud, image, move_type, fault, dest):
    cloud = make_cloud(task_faults=[fault], move__allow_resize_to_same_host=True)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    request = {'destination': dest, 'live': move_type == 'live-migrate',
               'flavor': 'q.big' if move_type == 'resize' else None}

    doc = cloud.move('vm1', **request)
    assert (doc['type'], doc['state']) == (move_type, 'reverted'), doc['reason']
    assert doc['failed_step'] == fault.split('.')[0]
    assert cloud.claims_of(doc['id']) == []
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert len(guests.qmp_query(cloud, vm, 'host1', 'query-cpus-fast')) == 1
    assert guests.same_disk(reference, cloud.world('vm1')['disks']['host1']['path'])
    if move_type == 'live-migrate':
        # Paused and resumed at most, never restarted: one count, no gap.
        seen = guests.counters(cloud, vm, 'host1')
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
    vm, reference = guests.boot(cloud, 'vm1', image=image)

    doc = cloud.move('vm1', destination='host2', flavor='q.big')
    assert (doc['type'], doc['state']) == ('resize', 'reverted'), doc['reason']
    assert doc['failed_step'] == fault.split('.')[0]
    assert cloud.instance('vm1')['flavor'] == 'q.small'
    guests.assert_runs_only_on(cloud, vm, 'host1')
    disk = cloud.world('vm1')['disks']['host1']
    assert disk['size_gb'] == 1
    # What the file says, not only the driver.
    info = json.loads(guests.run('qemu-img', 'info', '-U', '--output=json', disk['path']))
    assert info['virtual-size'] == 1 << 30
    assert guests.same_disk(reference, disk['path'])


# -- past the point of no return: the convergence ----------------------------------
@pytest.mark.parametrize('fault', ['TransferMemory.execute.after=fail_once',
                                   'SwitchOverMigration.execute=fail_once',
                                   'UpdateInstanceHost.execute.after=fail_once'])
def test_failure_after_the_convergence_rolls_forward(make_cloud, image, fault):
    """The host side switched the guest over when the copy converged: a
    step failing after that is run again, never reverted."""
    cloud = make_cloud(task_faults=[fault])
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.move('vm1', destination='host2')
    assert doc['state'] == 'completed', doc['reason']
    assert 'reverting' not in [h['state'] for h in doc['history']]
    step = fault.split('.')[0]
    [sub] = [s for s in doc['subtasks'] if s['name'] == step]
    assert 'FAILURE' in [h['state'] for h in sub['history']]
    assert sub['state'] == 'SUCCESS'
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert guests.same_disk(reference, cloud.world('vm1')['disks']['host2']['path'])


# -- abort, and a destination that dies ---------------------------------------------
def test_abort_during_a_throttled_live_migration(make_cloud, image):
    # 48 MiB at 2 MiB/s: about 24 s, if nobody aborted it.
    cloud = make_cloud(qemu__max_bandwidth=2)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc)

    cloud.api.abort_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'reverted', doc['reason']
    assert 'aborted' in doc['reason']
    assert cloud.world('vm1')['migration']['status'] == base.MIGRATION_CANCELLED
    guests.assert_runs_only_on(cloud, vm, 'host1')
    assert guests.same_disk(reference, cloud.world('vm1')['disks']['host1']['path'])


def test_live_migrate_again_after_its_destination_died(make_cloud, image):
    """A migration that failed stays on record as failed: trying the same
    route again must run a new one. (It was taken for this move's own,
    failed while the conductor was away, and every retry reverted.)"""
    cloud = make_cloud(qemu__max_bandwidth=2)
    vm, reference = guests.boot(cloud, 'vm1', image=image)
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc)
    with open(os.path.join(guests.root(cloud), 'host2', vm['uuid'], 'pid')) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert (doc['state'], doc['failed_step']) == ('reverted', 'TransferMemory'), doc['reason']
    failed = cloud.world('vm1')['migration']
    assert failed['status'] == base.MIGRATION_FAILED
    # QEMU's own words on the cut stream are in the task.
    assert failed['reason'] and failed['reason'] in doc['reason'], doc['reason']
    guests.assert_runs_only_on(cloud, vm, 'host1')
    # The mirror into the dead destination's disk ended with the memory copy.
    assert guests.qmp_query(cloud, vm, 'host1', 'query-block-jobs') == []

    cloud.override('max_bandwidth', 0, 'qemu')
    tail = guests.SerialTail(cloud, vm, 'host1')
    again = cloud.move('vm1', destination='host2')
    assert again['state'] == 'completed', again['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['id'], migration['status']) == (again['id'], base.MIGRATION_COMPLETED)
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')
    assert guests.same_disk(reference, cloud.world('vm1')['disks']['host2']['path'])


# -- force-complete and the completion timeout ---------------------------------------
def test_force_complete_through_post_copy(make_cloud):
    cloud = guests.dirty_cloud(make_cloud, qemu__permit_post_copy=True)
    vm, _reference = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    # More than the guest's 8 MiB sent, and still not converged.
    guests.migrating(cloud, doc, minimum_mb=12)
    assert cloud.api.get_task(None, doc['id'])['state'] == 'migrating-memory'

    cloud.api.force_complete(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['force-complete']
    migration = cloud.world('vm1')['migration']
    assert migration['status'] == base.MIGRATION_COMPLETED
    assert migration['postcopy'] is True
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


def test_force_complete_pauses_without_post_copy(make_cloud):
    """[qemu] permit_post_copy = false (the default): QEMU never gets
    postcopy-ram; force-complete pauses the guest, the copy converges, and
    the guest runs on, on the destination."""
    cloud = guests.dirty_cloud(make_cloud)
    vm, _reference = guests.boot(cloud, 'vm1')
    tail = guests.SerialTail(cloud, vm, 'host1')
    doc = cloud.api.move_instance(None, 'vm1', destination='host2')
    guests.migrating(cloud, doc, minimum_mb=12)
    caps = {c['capability']: c['state'] for c in
            guests.qmp_query(cloud, vm, 'host1', 'query-migrate-capabilities')}
    assert caps['postcopy-ram'] is False and caps['pause-before-switchover'] is True
    assert cloud.api.get_task(None, doc['id'])['state'] == 'migrating-memory'

    cloud.api.force_complete(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    assert [a['action'] for a in doc['actions']] == ['force-complete']
    migration = cloud.world('vm1')['migration']
    assert migration['status'] == base.MIGRATION_COMPLETED
    assert (migration['postcopy'], migration['paused']) == (False, True)
    # The guest's pause, from the source's STOP to the destination's
    # RESUME, is in the record: here it lasts from the force-complete to
    # the arrival, the very pause an operator asked for.
    result = {s['name']: s for s in doc['subtasks']}['SwitchOverMigration']['result']
    assert result['guest_pause_ms'] > result['downtime_ms'], result
    guests.assert_continues(cloud, vm, tail, 'host2')
    guests.assert_runs_only_on(cloud, vm, 'host2')


def test_completion_timeout_without_post_copy_pauses(make_cloud):
    cloud = guests.dirty_cloud(make_cloud, qemu__completion_timeout_per_gib=1,
                               qemu__completion_timeout_action='force_complete')
    vm, _reference = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', destination='host2')
    assert doc['state'] == 'completed', doc['reason']
    migration = cloud.world('vm1')['migration']
    assert (migration['status'], migration['paused']) == (base.MIGRATION_COMPLETED, True)
    guests.assert_runs_only_on(cloud, vm, 'host2')


@pytest.mark.parametrize('action', ['abort', 'force_complete'])
def test_completion_timeout(make_cloud, action):
    # 64 MiB: a timeout of 1 s per GiB is 1 s.
    cloud = guests.dirty_cloud(make_cloud, qemu__completion_timeout_per_gib=1,
                               qemu__completion_timeout_action=action,
                               qemu__permit_post_copy=True)
    vm, _reference = guests.boot(cloud, 'vm1')
    doc = cloud.move('vm1', destination='host2')
    migration = cloud.world('vm1')['migration']
    if action == 'abort':
        assert doc['state'] == 'reverted', doc['reason']
        assert 'cancelled' in doc['reason']
        assert migration['status'] == base.MIGRATION_CANCELLED
        guests.assert_runs_only_on(cloud, vm, 'host1')
    else:
        assert doc['state'] == 'completed', doc['reason']
        assert migration['postcopy'] is True
        guests.assert_runs_only_on(cloud, vm, 'host2')


# -- every task, opt-in: tox -e exhaustive ------------------------------------------
def _every_main_task():
    """Every step before the point of no return (but the end of the one that
    is that point: the guest is switched over then, see below)."""
    from move_orchestrator.moves import types as move_types
    from move_orchestrator.moves.types import base as types_base
    for type_name in ('live-migrate', 'cold-migrate', 'resize'):
        move_type = move_types.get(type_name)
        for step in move_type.stage_steps(types_base.MAIN):
            for when in ('execute', 'execute.after'):
                if (step.cls.__name__, when) != (move_type.ponr_after, 'execute.after'):
                    yield type_name, '%s.%s=fail' % (step.cls.__name__, when)


@pytest.mark.exhaustive  # tox -e exhaustive: a failure at every task, real VMs
@pytest.mark.parametrize('move_type,fault', list(_every_main_task()))
def test_failure_in_every_task_reverts(make_cloud, image, move_type, fault):
    test_failure_in_a_phase_reverts(make_cloud, image, move_type, fault, 'host2')
