"""Pre-check phase: the world is as the request assumed. Nothing to undo."""

from move_orchestrator.drivers import choreography
from move_orchestrator.drivers.compute import base as driver_base
from move_orchestrator import exception
from move_orchestrator.steps import base


class CheckDestination(base.MoveStep):
    phase = 'pre-check'

    def execute(self, dest):
        host = self.inventory.get_host(dest)
        if host['state'] != 'up':
            raise exception.HostUnavailable(host=dest,
                                            reason='it is %s' % host['state'])


class CheckSourceDown(base.MoveStep):
    """Evacuate only from a host that is really down."""
    phase = 'pre-check'

    def execute(self, source):
        host = self.inventory.get_host(source)
        if host['state'] != 'down':
            raise exception.InvalidMoveRequest(
                reason='source host %s is %s, not down: migrate instead'
                % (source, host['state']))


class CheckInstance(base.MoveStep):
    """The hypervisor has the instance on the source, in the state expected.

    The source alone is asked: a migration of the guest leaves from where
    it runs, and a driver whose describe asks every host (rpc) would send
    a call to each compute agent of the cloud for every move. For a live
    migration the same round trip brings what its destination is built
    from (``source_facts``, for PrepareIncoming).
    """
    phase = 'pre-check'
    default_provides = 'source_facts'

    def execute(self, instance_uuid, source, dest, power_state, live):
        facts = None
        if live and dest != source:
            world, facts = choreography.source_facts(self.driver, instance_uuid,
                                                     source, dest)
        else:
            world = self.driver.describe_host(instance_uuid, source)
        self._check(world, instance_uuid, source, live)
        return facts

    @staticmethod
    def _check(world, instance_uuid, source, live):
        domain = world['domains'].get(source)
        if domain is None:
            raise exception.WorldDiverged(
                instance=instance_uuid,
                reason='no domain on source host %s' % source)
        migration = world['migration']
        if migration and migration['status'] in \
                driver_base.MIGRATION_ACTIVE:
            raise exception.WorldDiverged(
                instance=instance_uuid,
                reason='a migration to %s is already running'
                % migration['dest'])
        if live and domain['state'] != driver_base.RUNNING:
            raise exception.InstanceInvalidState(
                instance=instance_uuid, state=domain['state'],
                reason='a live migration needs a running instance')


class CheckLiveCompatibility(base.MoveStep):
    """Same CPU model, so the guest sees the same CPU after the move."""
    phase = 'pre-check'

    def execute(self, source, dest):
        src = self.inventory.get_host(source)
        dst = self.inventory.get_host(dest)
        if src['cpu_model'] != dst['cpu_model']:
            raise exception.HostUnavailable(
                host=dest, reason='CPU model %s differs from the source\'s %s'
                % (dst['cpu_model'], src['cpu_model']))
