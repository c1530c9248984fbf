"""The persistence backend, waiting out database outages.

TaskFlow turns a failed save into ``StorageFailure``, which stops the
engine: a move would then look failed because its own records could not be
written. Here every save and read of a thread that runs moves waits until
the database is back (:mod:`move_orchestrator.db.outage`), so the engine
simply pauses between two steps and carries on. The write guards (fencing)
run again in every attempt: a conductor whose claim was taken over during
the outage is refused once the database answers, as it would be at any
other write.
"""

from move_orchestrator.db import outage
from move_orchestrator.persistence import backend

_WAITED = ('save_logbook', 'update_flow_details', 'update_atom_details',
           'get_logbook', 'get_flow_details', 'get_atom_details',
           'destroy_logbook', 'clear_all')
# Generators: they read when first iterated, so the whole read is retried.
_WAITED_GENERATORS = ('get_logbooks', 'get_flows_for_book',
                      'get_atoms_for_flow')


def _waiting(name, generator=False):
    method = getattr(backend.Connection, name)
    what = 'a move\'s steps (TaskFlow %s)' % name

    def wrapper(self, *args, **kwargs):
        if generator:
            return iter(outage.call(
                lambda: list(method(self, *args, **kwargs)), what=what))
        return outage.call(method, self, *args, what=what, **kwargs)
    wrapper.__name__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


class Connection(backend.Connection):
    pass


for _name in _WAITED:
    setattr(Connection, _name, _waiting(_name))
for _name in _WAITED_GENERATORS:
    setattr(Connection, _name, _waiting(_name, generator=True))


class Backend(backend.Backend):
    """:class:`backend.Backend` whose connections wait outages out."""

    def get_connection(self):
        conn = Connection(self)
        if not self._validated:
            outage.call(conn.validate, what='a move\'s steps')
            self._validated = True
        return conn
