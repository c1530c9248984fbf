"""Where the CLI's commands go: the embedded conductor in this process, or,
with ``transport_url`` set, the conductor service over RPC.
"""

from move_orchestrator import context as mo_context


def get_client(conf):
    if getattr(conf, 'transport_url', None):
        from move_orchestrator.cli import remote
        return remote.RemoteClient(conf)
    from move_orchestrator.cmd import manage
    from move_orchestrator.conductor import api
    manage.sync_schema()   # embedded: the database is ours to create
    return api.ConductorAPI()


class LazyClient:
    """Built on first use, so ``--help`` needs no database."""

    def __init__(self, conf):
        self._conf = conf
        self._client = None
        self.context = mo_context.get_operator_context()

    @property
    def embedded(self):
        return not getattr(self._conf, 'transport_url', None)

    def __getattr__(self, name):
        if self._client is None:
            self._client = get_client(self._conf)
        return getattr(self._client, name)

    def close(self):
        if self._client is not None and hasattr(self._client, 'shutdown'):
            self._client.shutdown()
