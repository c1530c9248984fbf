"""The switch-over at convergence, as the fake driver models it, and an
abort that comes too late for it."""

import datetime
import threading

import pytest
import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.drivers.compute import base
from move_orchestrator import exception
from move_orchestrator import faults
from tests import waiting

SPEC = {'vcpus': 1, 'ram_mb': 2048, 'disk_gb': 20, 'name': 'vm1',
        'flavor': 'm1.small'}


def _converge(cloud):
    """Its next poll finds it converged (a migration must have started:
    with none, nothing would converge and the test would mean nothing)."""
    with cloud.services.db.session() as s:
        rows = s.execute(sa.update(models.FakeMigration).values(
            created_at=models.utcnow() - datetime.timedelta(seconds=7200)
        )).rowcount
    assert rows == 1, 'no migration to converge'


def _start(cloud, migration_id):
    driver = cloud.services.driver
    vm = cloud.instances['vm1']
    driver.prepare_incoming(dict(SPEC, uuid=vm['uuid'], image=vm['image']),
                            'host3')
    driver.start_migration(vm['uuid'], 'host1', 'host3',
                           migration_id=migration_id)
    return driver, vm['uuid']


def _copying(make_cloud, **overrides):
    """A live move of vm1 to host3 whose memory copy runs and converges
    only when told (_converge): (cloud, driver, instance uuid, task)."""
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1, **overrides)
    driver, uuid = cloud.services.driver, cloud.instances['vm1']['uuid']
    doc = cloud.api.move_instance(None, 'vm1', destination='host3')
    # The move enters migrating-memory as TransferMemory starts, before
    # the step starts the migration: converged only once it runs.
    waiting.wait_for(lambda: (driver.poll_migration(uuid) or {}).get('id')
                     == doc['id'], what='the move to start its migration')
    return cloud, driver, uuid, doc


def test_the_fakes_migration_keeps_its_own_pace(make_cloud):
    """Each simulated pass answers the conductor's wait: however long the
    conductor is prepared to wait between looks, a fake live migration
    converges after its passes (as the qemu driver answers QEMU's)."""
    cloud = make_cloud(conductor__poll_interval=3600.0)
    doc = cloud.move('vm1', destination='host3', timeout=60)
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
        doc['reason']


def test_a_cancel_before_the_convergence_wins(make_cloud):
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1)
    driver, uuid = _start(cloud, 'm')
    assert driver.cancel_migration(uuid) is True
    _converge(cloud)
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_CANCELLED
    assert driver.describe(uuid)['domains']['host1']['state'] == base.RUNNING


def test_a_cancel_after_the_convergence_is_refused(make_cloud):
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1)
    driver, uuid = _start(cloud, 'm')
    _converge(cloud)
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_COMPLETED
    with pytest.raises(exception.MigrationPastSwitchover):
        driver.cancel_migration(uuid)
    # Once the source is cleaned up, it is an earlier migration: nothing.
    driver.destroy(uuid, 'host1')
    assert driver.cancel_migration(uuid) is False


def test_an_abort_after_the_convergence_completes_the_move(make_cloud):
    """Converged with the move still in its memory copy: the abort is too
    late, refused at once or recorded as refused; the move completes."""
    cloud, driver, uuid, doc = _copying(make_cloud)
    _converge(cloud)
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_COMPLETED
    try:
        cloud.api.abort_task(None, doc['id'])
        answer = 'accepted'
    except exception.InvalidTaskAction:
        answer = 'refused'
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    actions = [(a['action'], a['result']) for a in doc['actions']]
    assert answer == 'refused' or ('abort', 'refused') in actions, actions
    assert 'reverting' not in [h['state'] for h in doc['history']]
    assert cloud.audit() == []


def _fail_switched_over_unrecorded(cloud, monkeypatch):
    """A live migration of vm1 to host3 switched over, its source gone (as
    libvirt undefines it) and no record of it left to refuse the cancel:
    the revert stops at the destination's domain (GuestOnlyOnDestination),
    which runs on, and the move fails for the operator."""
    uuid = cloud.instances['vm1']['uuid']
    point, trigger = 'TransferMemory.execute.after', faults.trigger
    cloud.services.task_faults = faults.parse([point + '=fail_once'])

    def source_gone_then_fail(at, action):
        if at == point:
            cloud.services.driver.destroy(uuid, 'host1')
        trigger(at, action)
    monkeypatch.setattr(faults, 'trigger', source_gone_then_fail)

    doc = cloud.move('vm1', destination='host3')
    assert (doc['state'], doc['failed_step']) == ('failed', 'PrepareIncoming'), \
        doc['reason']
    return doc


def test_a_revert_keeps_a_guest_found_only_on_the_destination(
        make_cloud, monkeypatch):
    """The revert keeps the guest; the operator's resume rolls the move
    forward: the hosts say it switched over, so the destination is not
    prepared again, the migration counts as completed and the source is
    cleaned up as usual."""
    cloud = make_cloud()
    doc = _fail_switched_over_unrecorded(cloud, monkeypatch)
    assert 'GuestOnlyOnDestination' in doc['reason']
    assert 'TransferMemory failed' in doc['reason']
    assert 'resume the task to complete the move' in doc['reason']
    assert doc['reason'].endswith('. Resume the task.'), doc['reason']
    [sub] = [s for s in doc['subtasks'] if s['name'] == 'PrepareIncoming']
    assert (sub['state'], sub['error']['type']) == (
        'REVERT_FAILURE', 'GuestOnlyOnDestination')
    world = cloud.world('vm1')
    assert list(world['domains']) == ['host3']
    assert world['domains']['host3']['state'] == base.RUNNING
    assert 'host3' in world['disks']

    cloud.api.resume_task(None, doc['id'])
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    world = cloud.world('vm1')
    assert list(world['domains']) == ['host3']
    assert world['domains']['host3']['state'] == base.RUNNING
    assert list(world['disks']) == ['host3']
    assert cloud.instance('vm1')['host'] == 'host3'
    assert cloud.audit() == []


def test_a_revert_of_a_guest_found_only_on_the_destination_is_refused(
        make_cloud, monkeypatch):
    """Such a move cannot be undone: a revert is refused at once, saying
    to resume it, and nothing changes."""
    cloud = make_cloud()
    doc = _fail_switched_over_unrecorded(cloud, monkeypatch)
    with pytest.raises(exception.InvalidTaskAction) as raised:
        cloud.api.revert_task(None, doc['id'])
    message = str(raised.value)
    assert 'resume it' in message and '\n' not in message
    assert cloud.api.get_task(None, doc['id'])['state'] == 'failed'
    world = cloud.world('vm1')
    assert list(world['domains']) == ['host3']
    assert world['domains']['host3']['state'] == base.RUNNING


def test_the_destination_waits_for_a_guest_on_its_way(make_cloud):
    """The conductor asks the destination's confirm_incoming together with
    the source's complete_migration: a post-copy migration is switched
    over by the latter, and the destination's answer waits for it."""
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__permit_post_copy=True)
    driver, uuid = _start(cloud, 'm')
    driver.tune_migration(uuid, base.TUNE_POST_COPY, source='host1')
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_READY
    answers = []
    confirming = threading.Thread(
        target=lambda: answers.append(driver.confirm_incoming(uuid, 'host3')))
    confirming.start()
    confirming.join(0.5)
    # Not answered while the guest is on its way (before, it failed at once).
    assert confirming.is_alive() and answers == []
    driver.complete_migration(uuid, source='host1')
    confirming.join(30)
    assert answers == [{'host': 'host3', 'state': base.RUNNING}]
    # Where no guest comes, it fails at once.
    with pytest.raises(exception.MigrationFailed):
        driver.confirm_incoming(uuid, 'host2')


def test_a_force_complete_after_the_convergence_does_nothing(make_cloud):
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1)
    driver, uuid = cloud.services.driver, cloud.instances['vm1']['uuid']
    with pytest.raises(exception.MigrationNotRunning, match='none started'):
        driver.force_complete_migration(uuid)
    _start(cloud, 'm')
    _converge(cloud)
    assert driver.poll_migration(uuid)['status'] == base.MIGRATION_COMPLETED
    before = driver.describe(uuid)
    with pytest.raises(exception.MigrationNotRunning, match='completed'):
        driver.force_complete_migration(uuid)
    assert driver.describe(uuid) == before


def test_a_force_complete_that_the_convergence_overtakes_is_refused(make_cloud):
    """The copy converges between the operator's look at it and the
    driver's force (a slow call): refused with what happened, and nothing
    recorded as forced; the move completes."""
    cloud, _driver, _uuid, doc = _copying(
        make_cloud, driver_faults=['force_complete_migration=slow'])
    # The fault holds the driver's call 2 s: the copy converges meanwhile
    # (the move's own poll switches it over).
    later = threading.Timer(0.5, _converge, (cloud,))
    later.start()
    try:
        with pytest.raises(exception.InvalidTaskAction,
                           match=r'its memory copy is not running \(completed\)'):
            cloud.api.force_complete(None, doc['id'])
    finally:
        later.join()
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert doc['state'] == 'completed', doc['reason']
    assert doc['actions'] == []
    assert cloud.audit() == []


def test_a_copy_that_failed_says_why_in_the_task(make_cloud):
    """The hypervisor's own reason reaches the task's reason: an operator
    reads why the copy failed without the host's logs."""
    cloud, driver, uuid, doc = _copying(make_cloud)
    driver.destroy(uuid, 'host3')       # the destination's guest died
    _converge(cloud)
    doc = cloud.api.wait_task(None, doc['id'], timeout=60)
    assert (doc['state'], doc['failed_step']) == ('reverted', 'TransferMemory')
    migration = driver.poll_migration(uuid)
    assert migration['status'] == base.MIGRATION_FAILED
    assert migration['reason'] and migration['reason'] in doc['reason'], doc['reason']
    assert cloud.audit() == []
