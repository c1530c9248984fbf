"""cold-migrate: stop, copy the disk, start on the destination."""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import claim, cleanup, precheck, switchover
from move_orchestrator.steps import transfer

MOVE_TYPE = MoveType(
    name='cold-migrate',
    steps=(
        Step(claim.ClaimDestination),
        Step(precheck.CheckDestination),
        Step(precheck.CheckInstance),
        Step(transfer.PowerOffInstance),
        Step(transfer.BindDestinationPorts),
        Step(transfer.CopyDisk, 'copying-disk'),
        Step(switchover.StartOnDestination),
        Step(switchover.ActivateDestinationPorts),
        Step(switchover.UpdateInstanceHost),
        Step(cleanup.DestroySource),
        Step(cleanup.UnbindSourcePorts),
        Step(cleanup.ReleaseSourceClaim),
    ))
