"""The flow factory: a move's flow from its stored record alone.

TaskFlow's jobboard conductors rebuild a flow from a job's details by
calling an importable factory with JSON-able keyword arguments; this is that
factory, and the embedded conductor uses it too, so both build the same
flow. The process's services (driver, inventory) are the only state it
needs beyond the record, and it finds them registered by the conductor.
"""

from move_orchestrator.moves import types as move_types

_SERVICES = {}


def register_services(services):
    """The conductor of this process makes its services the flows' own."""
    _SERVICES['current'] = services


def build_move_flow(move_id, stage, services=None):
    services = services or _SERVICES.get('current')
    if services is None:
        raise RuntimeError('no conductor services registered in this '
                           'process')
    return build_flow(services.store.get(move_id), stage, services)


def build_flow(move, stage, services):
    """The same, from a move record the caller has read already."""
    return move_types.get(move['type']).build_flow(stage, services)


FACTORY = '%s.%s' % (__name__, build_move_flow.__name__)
