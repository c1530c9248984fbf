"""live-resize: grow a running instance's vCPUs and memory in place.

No copy and no switch of host: the growth is claimed on the instance's host
and hot-plugged into the running domain. VerifyResize looks at the result
before the point of no return; what was plugged is unplugged on a revert,
when the guest gives it back (see ``steps/hotplug.py``).
"""

from move_orchestrator.moves.types.base import MoveType, Step
from move_orchestrator.steps import hotplug, precheck, switchover

MOVE_TYPE = MoveType(
    name='live-resize',
    live=True,
    steps=(
        Step(hotplug.ClaimResources),
        Step(precheck.CheckInstance),
        Step(hotplug.CheckHotplugRoom),
        Step(hotplug.PlugVcpus, 'hotplugging'),
        Step(hotplug.PlugMemory, 'hotplugging'),
        Step(switchover.VerifyResize, 'verifying'),
        Step(switchover.UpdateInstanceHost, 'verifying'),
        Step(hotplug.MergeClaim),
    ))
