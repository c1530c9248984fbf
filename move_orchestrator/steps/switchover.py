"""Switch-over phase: make the destination the instance's home.

Its end is the point of no return. Until then every step can be reversed,
because the source copy still exists.
"""

from oslo_log import log as logging

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator import exception
from move_orchestrator.steps import base

LOG = logging.getLogger(__name__)


class SwitchOverMigration(base.MoveStep):
    """End the migration the host side switched over, on both hosts.

    Returns the finished migration (its figures: sent, downtime) for the
    task record, once the destination confirmed the guest runs there. The
    source ends it while the destination confirms: one round trip. Where
    the guest ran there before the source could tell (TransferMemory
    followed it: drivers/following.py), the destination alone is asked:
    the source is still ending, and DestroySource waits for that.
    """
    phase = 'switch-over'

    def execute(self, move_id, instance_uuid, source, dest, migration=None):
        if migration and migration.get('arrived'):
            # The destination confirms now, past the point of no return (a
            # later cancel takes it for decided), with its figures.
            arrived = choreography.arrival(self.driver, instance_uuid, dest)
            finished = {k: v for k, v in migration.items() if k != 'arrived'}
            return choreography.with_arrival(finished, arrived)
        migration, arrived = choreography.end_migration(
            self.driver, lambda: self._end(move_id, instance_uuid, source, dest),
            instance_uuid, dest)
        return choreography.with_arrival(migration, arrived)

    def _end(self, move_id, instance_uuid, source, dest):
        """The source's end of the migration (None when it knows none)."""
        # No look first: complete_migration tells a converged migration
        # from a finished one (a re-run) and refuses any other.
        try:
            finished = self.driver.complete_migration(instance_uuid, source=source)
        except exception.DriverError:
            # Refused as none is known (nothing recorded the switch-over: a
            # resumed move, see TransferMemory): done if the hosts say so.
            known = self.driver.poll_migration(instance_uuid, source=source)
            if (known and known.get('id') == move_id) or \
                    not choreography.switched_over(self.driver, instance_uuid,
                                                   source, dest):
                raise
            LOG.info('%s runs on %s alone: its switch-over is confirmed '
                     'there', instance_uuid, dest)
            return None
        # A driver that answers the finished migration saves a poll (a
        # round trip to the source's agent, with the rpc driver).
        return finished if finished is not None \
            else self.driver.poll_migration(instance_uuid, source=source)

    def revert(self, instance_uuid, source, dest, **kwargs):
        there = self.domain_left_on(instance_uuid, dest)
        if there and there['state'] == driver_base.RUNNING:
            self.driver.power_off(instance_uuid, dest)
        here = self.domain_left_on(instance_uuid, source)
        if here and here['state'] == driver_base.PAUSED:
            self.driver.power_on(instance_uuid, source)


class StartOnDestination(base.MoveStep):
    """Define the domain with the new flavor on the destination."""
    phase = 'switch-over'

    def execute(self, new_spec, dest, power_state):
        self.driver.spawn(new_spec, dest, power_on=power_state == 'running')

    def revert(self, instance_uuid, spec, source, dest, **kwargs):
        if dest != source:
            self.driver.destroy(instance_uuid, dest)
        else:
            # Same-host resize: put the old flavor back, still powered off;
            # PowerOffInstance's revert powers it on again.
            self.driver.spawn(spec, source, power_on=False)


class ActivateDestinationPorts(base.MoveStep):
    phase = 'switch-over'

    def execute(self, instance_uuid, dest):
        self.network.activate_binding(instance_uuid, dest)

    def revert(self, instance_uuid, source, **kwargs):
        if source in self.network.bindings(instance_uuid):
            self.network.activate_binding(instance_uuid, source)


class UpdateInstanceHost(base.MoveStep):
    """The inventory follows the hypervisor: new host, new flavor."""
    phase = 'switch-over'

    def execute(self, instance_uuid, dest, new_spec):
        self.inventory.update_instance(instance_uuid, host=dest,
                                       flavor=new_spec['flavor'])

    def revert(self, instance_uuid, source, spec, **kwargs):
        self.inventory.update_instance(instance_uuid, host=source,
                                       flavor=spec['flavor'])


class VerifyResize(base.MoveStep):
    """Confirm the resize by looking, instead of asking a human."""
    phase = 'switch-over'

    def execute(self, instance_uuid, dest, new_spec, power_state):
        world = self.driver.describe_host(instance_uuid, dest)
        domain = world['domains'].get(dest)
        disk = world['disks'].get(dest)
        want = driver_base.RUNNING if power_state == 'running' \
            else driver_base.SHUTOFF
        problems = list(driver_base.size_mismatches(world, dest, new_spec))
        if domain is None:
            problems.append('no domain on %s' % dest)
        elif domain['state'] != want:
            problems.append('domain is %s, not %s' % (domain['state'], want))
        if disk is None:
            problems.append('no disk on %s' % dest)
        if problems:
            raise exception.WorldDiverged(instance=instance_uuid,
                                          reason='; '.join(problems))
