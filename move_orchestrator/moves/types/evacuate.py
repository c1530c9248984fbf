"""evacuate: the source host is down; rebuild from the image elsewhere."""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import claim, cleanup, precheck, switchover
from move_orchestrator.steps import transfer

MOVE_TYPE = MoveType(
    name='evacuate',
    steps=(
        Step(claim.ClaimDestination),
        Step(precheck.CheckSourceDown),
        Step(precheck.CheckDestination),
        Step(transfer.BindDestinationPorts),
        Step(transfer.RebuildDisk, 'rebuilding'),
        Step(switchover.StartOnDestination),
        Step(switchover.ActivateDestinationPorts),
        Step(switchover.UpdateInstanceHost),
        Step(cleanup.DestroySource),
        Step(cleanup.UnbindSourcePorts),
        Step(cleanup.ReleaseSourceClaim),
    ))
