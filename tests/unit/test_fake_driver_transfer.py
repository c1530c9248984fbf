"""[fake_driver] transfer_time: a migration converges by the clock."""

import datetime

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.drivers.compute import base


def test_a_migration_converges_transfer_time_after_it_started(make_cloud):
    cloud = make_cloud(fake_driver__transfer_time=3600.0,
                       fake_driver__migration_steps=1)
    driver = cloud.services.driver
    vm = cloud.instances['vm1']     # running, on host1
    spec = {'uuid': vm['uuid'], 'vcpus': 1, 'ram_mb': 2048, 'disk_gb': 20,
            'image': vm['image'], 'name': 'vm1', 'flavor': 'm1.small'}
    driver.prepare_incoming(spec, 'host3')
    driver.start_migration(vm['uuid'], 'host1', 'host3', migration_id='m')
    for _ in range(5):      # polls alone do not move it (migration_steps=1)
        migration = driver.poll_migration(vm['uuid'])
        assert migration['status'] == base.MIGRATION_RUNNING
        assert migration['remaining_mb'] > 0
    with cloud.services.db.session() as s:
        s.execute(sa.update(models.FakeMigration).values(
            created_at=models.utcnow() - datetime.timedelta(seconds=1800)))
    half = driver.poll_migration(vm['uuid'])
    assert half['status'] == base.MIGRATION_RUNNING
    assert 0.4 < half['remaining_mb'] / half['total_mb'] <= 0.5
    with cloud.services.db.session() as s:
        s.execute(sa.update(models.FakeMigration).values(
            created_at=models.utcnow() - datetime.timedelta(seconds=3600)))
    # Converged: switched over at once, as a real host side does.
    assert driver.poll_migration(vm['uuid'])['status'] == \
        base.MIGRATION_COMPLETED
    domains = driver.describe(vm['uuid'])['domains']
    assert (domains['host1']['state'], domains['host3']['state']) == (
        base.PAUSED, base.RUNNING)
