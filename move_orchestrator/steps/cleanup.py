"""Cleanup phase, after the point of no return.

Nothing here is undone: a failure is retried by the flow's retry controller,
and when the attempts run out the move ends ``failed`` with the instance
running on the destination. Every step is therefore idempotent.
"""

from move_orchestrator.drivers import choreography
from move_orchestrator.steps import base


class CleanupStep(base.MoveStep):
    phase = 'cleanup'

    def revert(self, *args, **kwargs):
        """Rolled forward, never back: the retry runs execute again."""


class DestroySource(CleanupStep):
    """Delete the source's domain and disk (fenced, for an evacuate)."""

    def execute(self, instance_uuid, source, dest):
        if source != dest:
            choreography.remove_instance(self.driver, instance_uuid, source, dest)


class UnbindSourcePorts(CleanupStep):
    def execute(self, instance_uuid, source, dest):
        if source != dest:
            self.network.unbind_ports(instance_uuid, source)


class ReleaseSourceClaim(CleanupStep):
    """The move's claim becomes the instance's allocation."""

    def execute(self, move_id, instance_uuid, dest):
        self.inventory.transfer_allocation(move_id, instance_uuid, dest)
