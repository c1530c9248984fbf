"""The exit codes of ``move-orchestrator``, for scripts (documented in
doc/source/cli.rst)."""

from move_orchestrator import states

OK = 0            # done; or, without --wait, the move was accepted
ERROR = 1         # refused or failed to run: the one-line error says why
USAGE = 2         # bad arguments or configuration
REVERTED = 3      # the move (or a move of the drain) ended reverted
FAILED = 4        # the move (or a move of the drain) ended failed
TIMEOUT = 5       # --timeout passed with the move still running
REFUSED = 6       # a drain left instances that could not be moved

_OF_STATE = {states.REVERTED: REVERTED, states.FAILED: FAILED}


def of_states(task_states):
    """The code of the worst of the given task states."""
    codes = [_OF_STATE.get(s, OK) for s in task_states]
    return max(codes, default=OK)
