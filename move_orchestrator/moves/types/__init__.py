"""The move types, one module each, declared as data."""

from move_orchestrator import exception
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


def get(name):
    try:
        return MOVE_TYPES[name]
    except KeyError:
        raise exception.UnknownMoveType(move_type=name) from None
