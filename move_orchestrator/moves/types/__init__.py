"""The move types, one module each, declared as data."""

from move_orchestrator import exception
from move_orchestrator import states
from move_orchestrator.moves.types import cold_migrate
from move_orchestrator.moves.types import evacuate
from move_orchestrator.moves.types import live_migrate
from move_orchestrator.moves.types import live_resize
from move_orchestrator.moves.types import resize

MOVE_TYPES = {t.name: t for t in (live_migrate.MOVE_TYPE,
                                  cold_migrate.MOVE_TYPE,
                                  resize.MOVE_TYPE,
                                  evacuate.MOVE_TYPE,
                                  live_resize.MOVE_TYPE)}

#: Every state a move of this release can be in before it ends. Reads of
#: the moves still running ask for these (``state IN``), which the index on
#: the state finds among any number of ended moves; ``NOT IN`` the terminal
#: states reads every row of the table, several times a second.
UNFINISHED_STATES = tuple(sorted(
    {s for t in MOVE_TYPES.values() for s in t.states}
    - set(states.TERMINAL_STATES)))


def get(name):
    try:
        return MOVE_TYPES[name]
    except KeyError:
        raise exception.UnknownMoveType(move_type=name) from None
