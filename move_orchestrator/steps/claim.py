"""Claim phase: reserve the destination's resources for the move."""

from move_orchestrator.db import inventory as inv
from move_orchestrator.steps import base


class ClaimDestination(base.MoveStep):
    """Allocate the new flavor on the destination, as the move's consumer.

    The instance keeps its own allocation on the source until cleanup, so a
    revert only has to drop the move's consumer.
    """
    phase = 'claim'

    def execute(self, move_id, dest, new_spec):
        resources = {r: new_spec[r] for r in inv.RESOURCES}
        self.inventory.claim(move_id, dest, resources,
                             self.services.allocation_ratios)

    def revert(self, move_id, dest, **kwargs):
        self.inventory.release(move_id, dest)
