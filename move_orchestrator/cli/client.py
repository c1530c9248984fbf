"""Where the CLI's commands go: the embedded conductor in this process, or,
with ``transport_url`` set, the conductor service over RPC. Either way a
command is checked by the one service layer (here, or in the service).
"""

from move_orchestrator import context as mo_context
from move_orchestrator.service import operations


def get_client(conf):
    if getattr(conf, 'transport_url', None):
        from move_orchestrator.cli import remote
        return remote.RemoteClient(conf)
    from move_orchestrator.cmd import manage
    from move_orchestrator.conductor import api
    manage.sync_schema()   # embedded: the database is ours to create
    return EmbeddedClient(api.ConductorAPI())


class EmbeddedClient:
    """The conductor in this process, behind the service layer: the
    operations are MoveService's; the conductor and its services stay at
    hand for the commands that run it (demo, conductor)."""

    def __init__(self, conductor_api):
        self.api = conductor_api
        self.service = operations.MoveService(conductor_api)
        self.services = conductor_api.services
        self.conductor = conductor_api.conductor

    def __getattr__(self, name):
        if name in operations.OPERATIONS or name == 'wait_task':
            return getattr(self.service, name)
        raise AttributeError(name)

    def accept_move(self, ctxt, instance, **request):
        """move_instance, checked by the service layer, without making this
        process the conductor that runs it."""
        self.api.run_here = False
        return self.service.move_instance(ctxt, instance, **request)

    def shutdown(self, wait=True):
        self.api.shutdown(wait=wait)


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
