"""start_migration answers the migration it started (API 1.8): the live
migration's step takes it instead of polling the source right after."""

from move_orchestrator.drivers.compute import base


def _spec(vm):
    return {'uuid': vm['uuid'], 'vcpus': 1, 'ram_mb': 2048, 'disk_gb': 20,
            'image': vm['image'], 'name': 'vm1', 'flavor': 'm1.small'}


def test_the_started_migration_is_answered_and_a_rerun_answers_it_again(cloud):
    driver = cloud.services.driver
    vm = cloud.instances['vm1']     # running, on host1
    driver.prepare_incoming(_spec(vm), 'host3')
    started = driver.start_migration(vm['uuid'], 'host1', 'host3',
                                     migration_id='m')
    assert (started['id'], started['status'], started['source'],
            started['dest']) == ('m', base.MIGRATION_RUNNING, 'host1', 'host3')
    assert started['remaining_mb'] == started['total_mb'] > 0
    polled = driver.poll_migration(vm['uuid'])
    # A re-run (after a crash, say) answers the migration under way.
    again = driver.start_migration(vm['uuid'], 'host1', 'host3',
                                   migration_id='m')
    assert again['id'] == 'm' and again['remaining_mb'] == polled['remaining_mb']
