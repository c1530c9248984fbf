"""live-migrate: the instance keeps running while its memory is copied.

Its point of no return is the convergence of the memory copy: the host side
switches the guest over the moment it converges (no conductor step in the
guest's pause), so what follows is rolled forward.
"""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import claim, cleanup, precheck, switchover
from move_orchestrator.steps import transfer

MOVE_TYPE = MoveType(
    name='live-migrate',
    live=True,
    ponr_after='TransferMemory',
    steps=(
        Step(claim.ClaimDestination),
        Step(precheck.CheckDestination),
        Step(precheck.CheckInstance),
        Step(precheck.CheckLiveCompatibility),
        Step(transfer.BindDestinationPorts, 'preparing-destination'),
        Step(transfer.PrepareIncoming, 'preparing-destination'),
        Step(transfer.TransferMemory, 'migrating-memory'),
        Step(switchover.SwitchOverMigration),
        Step(switchover.ActivateDestinationPorts),
        Step(switchover.UpdateInstanceHost),
        Step(cleanup.DestroySource),
        Step(cleanup.UnbindSourcePorts),
        Step(cleanup.ReleaseSourceClaim),
    ))
