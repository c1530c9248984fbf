"""Fast, crash-safe TaskFlow persistence (see :mod:`.backend`)."""

from move_orchestrator.persistence.backend import Backend
from move_orchestrator.persistence.backend import Connection

__all__ = ['Backend', 'Connection']
