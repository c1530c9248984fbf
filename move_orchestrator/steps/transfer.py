"""Transfer phase: copy what must move to the destination.

Reverts remove what was made on the destination and give the source back its
power state. Every step looks at the driver first, so a re-run after a crash
does not redo (or undo) what is already done.
"""

import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator import exception
from move_orchestrator.steps import base

LOG = logging.getLogger(__name__)
ABORT_CHECK_INTERVAL = 0.1   # seconds between looks for an operator's abort


class BindDestinationPorts(base.MoveStep):
    """Prepare an inactive port binding on the destination."""
    phase = 'transfer'

    def execute(self, instance_uuid, dest):
        self.driver.bind_ports(instance_uuid, dest)

    def revert(self, instance_uuid, source, dest, **kwargs):
        if dest != source:
            self.driver.unbind_ports(instance_uuid, dest)


class PowerOffInstance(base.MoveStep):
    phase = 'transfer'

    def execute(self, instance_uuid, source):
        domain = self.driver.describe(instance_uuid)['domains'].get(source)
        if domain is not None and domain['state'] != driver_base.SHUTOFF:
            self.driver.power_off(instance_uuid, source)

    def revert(self, instance_uuid, source, power_state, **kwargs):
        domain = self.driver.describe(instance_uuid)['domains'].get(source)
        if (power_state == 'running' and domain is not None
                and domain['state'] != driver_base.RUNNING):
            self.driver.power_on(instance_uuid, source)


class CopyDisk(base.MoveStep):
    """Copy the disk for the new flavor, or grow it in place where source
    and destination share storage (one host, or one storage group)."""
    phase = 'transfer'

    def execute(self, instance_uuid, source, dest, new_spec):
        self.driver.copy_disk(instance_uuid, source, dest,
                              new_spec['disk_gb'])

    def revert(self, instance_uuid, source, dest, spec, **kwargs):
        if not self.driver.shares_storage(source, dest):
            self.driver.delete_disk(instance_uuid, dest)
        elif source in self.driver.describe(instance_uuid)['disks']:
            # Grown in place: deleting dest's disk would keep it (the
            # source still uses it), so give it its old size back.
            self.driver.copy_disk(instance_uuid, source, source,
                                  spec['disk_gb'])


class RebuildDisk(base.MoveStep):
    """Evacuate: the source's disk is out of reach, start from the image.

    On storage the destination shares with the source the disk is within
    reach: create_disk keeps it, and the instance comes back with its data,
    as Nova's evacuate on shared storage does.
    """
    phase = 'transfer'

    def execute(self, new_spec, dest):
        self.driver.create_disk(new_spec, dest)

    def revert(self, instance_uuid, dest, **kwargs):
        self.driver.delete_disk(instance_uuid, dest)


class PrepareIncoming(base.MoveStep):
    """Start the destination domain waiting for the memory copy."""
    phase = 'transfer'

    def execute(self, new_spec, dest):
        self.driver.prepare_incoming(new_spec, dest)

    def revert(self, instance_uuid, dest, **kwargs):
        self.driver.destroy(instance_uuid, dest)
        self.driver.delete_disk(instance_uuid, dest)


class TransferMemory(base.MoveStep):
    """Pre-copy the memory until it converges, reporting progress.

    Resumable: a migration already running (or converged) in the hypervisor
    is followed, not restarted.
    """
    phase = 'transfer'

    def execute(self, move_id, instance_uuid, source, dest):
        conf = self.services.conf.conductor
        migration = self.driver.poll_migration(instance_uuid)
        if migration is not None and migration.get('id') != move_id:
            migration = None    # an earlier move's, ended: not ours to follow
        status = migration['status'] if migration else None
        if status == driver_base.MIGRATION_FAILED:
            # It failed while nobody watched (we were restarted): revert.
            raise exception.MigrationFailed(
                instance=instance_uuid, reason='the hypervisor reports it '
                'failed while the conductor was away')
        if status not in driver_base.MIGRATION_ACTIVE + (
                driver_base.MIGRATION_COMPLETED,):
            self.driver.start_migration(instance_uuid, source, dest,
                                        migration_id=move_id)
            migration = self.driver.poll_migration(instance_uuid)
        deadline = time.monotonic() + conf.migration_timeout
        reported = 0.0
        next_abort_check = 0.0
        while True:
            status = migration['status'] if migration else None
            if status in (driver_base.MIGRATION_READY,
                          driver_base.MIGRATION_COMPLETED):
                self.update_progress(1.0)
                return migration
            if status != driver_base.MIGRATION_RUNNING:
                raise exception.MigrationFailed(
                    instance=instance_uuid,
                    reason='the hypervisor reports %s' % status)
            total = migration['total_mb'] or 1
            progress = min(0.99, 1.0 - migration['remaining_mb'] / total)
            if progress - reported >= 0.01:
                # Each report is a database write: only when it moved.
                self.update_progress(progress)
                reported = progress
            now = time.monotonic()
            move = None
            if now >= next_abort_check:     # a read; not on every poll
                next_abort_check = now + ABORT_CHECK_INTERVAL
                move = self.services.store.get(move_id)
            if move and move['abort_requested_by']:
                self.driver.cancel_migration(instance_uuid)
                raise exception.MoveAborted(move=move_id,
                                            who=move['abort_requested_by'])
            if time.monotonic() > deadline:
                self.driver.cancel_migration(instance_uuid)
                raise exception.MigrationFailed(
                    instance=instance_uuid,
                    reason='not converged after %ss' % conf.migration_timeout)
            migration = self.driver.wait_migration(instance_uuid,
                                                   conf.poll_interval)

    def revert(self, instance_uuid, **kwargs):
        self.driver.cancel_migration(instance_uuid)
