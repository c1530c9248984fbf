"""live-migrate: the instance keeps running while its memory is copied."""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import claim, cleanup, precheck, switchover
from move_orchestrator.steps import transfer

MOVE_TYPE = MoveType(
    name='live-migrate',
    live=True,
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
