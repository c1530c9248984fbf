"""resize: a cold move with a new flavor, verified by the flow itself.

There is no wait for a human to confirm: VerifyResize looks at the result
before the point of no return, and a resize that does not look right reverts.
"""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import claim, cleanup, precheck, switchover
from move_orchestrator.steps import transfer

MOVE_TYPE = MoveType(
    name='resize',
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
        Step(switchover.VerifyResize, 'verifying'),
        Step(cleanup.DestroySource),
        Step(cleanup.UnbindSourcePorts),
        Step(cleanup.ReleaseSourceClaim),
    ))
