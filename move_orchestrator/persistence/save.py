"""A save: one write transaction of the persistence backend, as its save
hooks see it (rows through its connection; memory after its commit)."""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Save:
    """One write transaction, as save hooks see it.

    ``connection`` writes rows that commit or roll back with the save. What
    a hook keeps in memory because of those rows waits for
    :meth:`after_commit`: a save that fails is retried whole, and the retry
    must find the hook's memory as if the failed attempt never ran.
    """

    def __init__(self, connection):
        self.connection = connection
        self.on_commit = []     # the backend's cache updates (its lock held)
        self._after_commit = []
        self.notes = {}         # hooks' scratch, dropped with the save
        self.guarded = set()    # flow details checked by the write guards

    def after_commit(self, func):
        """Call ``func()`` once this save committed; never if it rolled
        back. An error it raises is logged, not raised: the save stands."""
        self._after_commit.append(func)

    def committed(self):
        for func in self._after_commit:
            try:
                func()
            except Exception:   # noqa: B902 - the commit is done
                LOG.exception('A save hook failed after its commit')
