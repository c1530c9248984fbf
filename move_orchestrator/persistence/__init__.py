"""Fast, crash-safe TaskFlow persistence (see :mod:`.backend`).

Usage::

    from move_orchestrator.persistence import Backend

    backend = Backend({'connection': url})            # engine cached per URL
    backend = Backend({}, engine=get_database(url).engine)   # or shared
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()                                # creates the tf_* tables

    def write_history(save, atom_detail, flow_uuid):
        save.connection.execute(history.insert().values(...))  # same commit
        save.after_commit(lambda: remember(atom_detail.uuid))  # not before

    backend.add_save_hook(write_history)
"""

from move_orchestrator.persistence.backend import Backend
from move_orchestrator.persistence.backend import Connection

__all__ = ['Backend', 'Connection']
