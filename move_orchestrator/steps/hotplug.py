"""The steps of a live resize: grow a running instance in place.

The move's claim is the growth only (the instance keeps its allocation);
the vCPUs and memory are hot-plugged into the running domain. Their revert
hot-unplugs what was added, which needs the guest's cooperation: a guest
that does not give the devices back (x86 vCPUs before its ACPI switched to
the modern CPU hotplug interface, memory it onlined) keeps them, the revert
raises HotUnplugRefused and the move ends ``failed`` saying so, with the
claim kept, since the instance does use the resources.
"""

from move_orchestrator.db import inventory as inv
from move_orchestrator import exception
from move_orchestrator.steps import base
from move_orchestrator.steps import cleanup


def growth(spec, new_spec):
    """What a live resize adds: {resource: amount}, never negative."""
    return {r: max(0, new_spec[r] - spec[r]) for r in inv.RESOURCES}


class ClaimResources(base.MoveStep):
    """Claim the growth on the instance's own host, as the move's consumer."""
    phase = 'claim'

    def execute(self, move_id, source, spec, new_spec):
        self.inventory.claim(move_id, source, growth(spec, new_spec),
                             self.services.allocation_ratios)

    def revert(self, move_id, source, **kwargs):
        self.inventory.release(move_id, source)


class CheckHotplugRoom(base.MoveStep):
    """The running domain was started able to grow this far."""
    phase = 'pre-check'

    def execute(self, instance_uuid, source, spec, new_spec):
        room = self.driver.topology(instance_uuid, source)
        problems = []
        if room is None:
            problems.append(
                'the domain on %s cannot grow in place (not running, started '
                'before live resize, or its compute agent is older than API '
                '1.3 or capped by [upgrade_levels] compute)' % source)
        else:
            if new_spec['vcpus'] > room['max_vcpus']:
                problems.append('%s vCPUs is over its maximum of %s'
                                % (new_spec['vcpus'], room['max_vcpus']))
            if new_spec['ram_mb'] > room['max_ram_mb']:
                problems.append('%s MB is over its maximum of %s MB'
                                % (new_spec['ram_mb'], room['max_ram_mb']))
            if new_spec['ram_mb'] > spec['ram_mb'] and not room['free_slots']:
                problems.append('no free memory slot')
        if problems:
            raise exception.WorldDiverged(
                instance=instance_uuid,
                reason='cannot hotplug: %s' % '; '.join(problems))


class PlugVcpus(base.MoveStep):
    phase = 'transfer'

    def execute(self, instance_uuid, source, new_spec):
        return self.driver.hotplug(instance_uuid, source,
                                   vcpus=new_spec['vcpus'])

    def revert(self, instance_uuid, source, spec, **kwargs):
        self.driver.hot_unplug(instance_uuid, source, vcpus=spec['vcpus'])


class PlugMemory(base.MoveStep):
    phase = 'transfer'

    def execute(self, instance_uuid, source, new_spec):
        return self.driver.hotplug(instance_uuid, source,
                                   ram_mb=new_spec['ram_mb'])

    def revert(self, instance_uuid, source, spec, **kwargs):
        self.driver.hot_unplug(instance_uuid, source, ram_mb=spec['ram_mb'])


class MergeClaim(cleanup.CleanupStep):
    """The claimed growth becomes part of the instance's allocation."""

    def execute(self, move_id, instance_uuid, source):
        self.inventory.merge_allocation(move_id, instance_uuid, source)
