"""The cliff command bases of ``move-orchestrator``'s own commands.

cliff's default epilog names the plugin that provides a command, and to
find it maps every installed distribution's files to their packages
(``importlib.metadata.packages_distributions``), on every run of every
command: 0.15-0.2 s of each, measured on a 2-core machine. These
commands are not plugins, so their epilog is only their own. (The
``openstack`` client plugin's commands, in ``move_orchestrator/osc``, are
plugins and keep cliff's.)
"""

from cliff import command
from cliff import lister
from cliff import show


class _OwnEpilog:
    def get_epilog(self):
        return self._epilog or ''


class Command(_OwnEpilog, command.Command):
    pass


class Lister(_OwnEpilog, lister.Lister):
    pass


class ShowOne(_OwnEpilog, show.ShowOne):
    pass
