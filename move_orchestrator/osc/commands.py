"""``openstack move ...``: the CLI's own command classes (cli/), run
against the REST client instead of the embedded conductor or RPC."""

from move_orchestrator.cli import inventory
from move_orchestrator.cli import moves
from move_orchestrator.cli import tasks


class _App:
    """openstackclient's app, with ``client`` as our commands expect."""

    def __init__(self, app):
        self._app = app

    @property
    def client(self):
        return self._app.client_manager.move

    def __getattr__(self, name):
        return getattr(self._app, name)


class _Plugin:
    def __init__(self, app, app_args, cmd_name=None):
        super().__init__(_App(app), app_args, cmd_name=cmd_name)


class MoveServer(_Plugin, moves.Move):
    """Move a server; the type (live, cold, resize, evacuate) is derived
    from the request."""

    destination_flag = '--host'


class ListTasks(_Plugin, tasks.ListTasks):
    __doc__ = tasks.ListTasks.__doc__


class ShowTask(_Plugin, tasks.ShowTask):
    __doc__ = tasks.ShowTask.__doc__


class AbortTask(_Plugin, tasks.AbortTask):
    __doc__ = tasks.AbortTask.__doc__


class ResumeTask(_Plugin, tasks.ResumeTask):
    __doc__ = tasks.ResumeTask.__doc__


class RevertTask(_Plugin, tasks.RevertTask):
    __doc__ = tasks.RevertTask.__doc__


class ForceCompleteTask(_Plugin, tasks.ForceCompleteTask):
    __doc__ = tasks.ForceCompleteTask.__doc__


class PauseTask(_Plugin, tasks.PauseTask):
    __doc__ = tasks.PauseTask.__doc__


class DrainHost(_Plugin, moves.Drain):
    __doc__ = moves.Drain.__doc__


class ListTaskEvents(_Plugin, tasks.ListTaskEvents):
    __doc__ = tasks.ListTaskEvents.__doc__


class ListHosts(_Plugin, inventory.ListHosts):
    __doc__ = inventory.ListHosts.__doc__


class ShowHost(_Plugin, inventory.ShowHost):
    __doc__ = inventory.ShowHost.__doc__


class SetHost(_Plugin, inventory.SetHost):
    __doc__ = inventory.SetHost.__doc__
