"""``move-orchestrator``: the operators' command line (cliff).

oslo.config's ``--config-file`` / ``--config-dir`` may stand anywhere on the
line; they are taken out before cliff parses the rest, so every command reads
``[database] connection``, the driver options and the rest per run.
"""

import logging as std_logging
import sys

from cliff import app
from cliff import commandmanager
from oslo_log import log as logging

from move_orchestrator.conf import CONF

CONFIG_ARGS = ('--config-file', '--config-dir')


def split_config_args(argv):
    """(oslo.config args, the rest)."""
    config, rest = [], []
    args = iter(argv)
    for arg in args:
        name = arg.split('=', 1)[0]
        if name in CONFIG_ARGS:
            config.append(arg)
            if '=' not in arg:
                config.append(next(args, ''))
        else:
            rest.append(arg)
    return config, rest


def setup_config(config_args):
    logging.register_options(CONF)
    # stdout is for tables and JSON; the log goes to stderr.
    CONF.set_default('use_stderr', True)
    CONF(config_args, project='move-orchestrator')
    logging.setup(CONF, 'move-orchestrator')
    if not CONF.debug and not CONF.log_file:
        # Operators read tables; the log says only what went wrong.
        for name in (None, 'alembic'):
            std_logging.getLogger(name).setLevel(std_logging.WARNING)


class MoveOrchestratorApp(app.App):
    def __init__(self):
        super().__init__(
            description='Move virtual machines: live-migrate, cold-migrate, '
                        'resize, evacuate; inspect and steer their tasks.',
            version='0.1.0',
            command_manager=commandmanager.CommandManager(
                'move_orchestrator.cli'),
            deferred_help=True)
        self.client = None

    def configure_logging(self):
        """oslo.log has set logging up already (see setup_config)."""

    def initialize_app(self, argv):
        from move_orchestrator.cli import client
        self.client = client.LazyClient(CONF)

    def clean_up(self, cmd, result, err):
        if self.client is not None:
            self.client.close()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    config_args, rest = split_config_args(argv)
    setup_config(config_args)
    return MoveOrchestratorApp().run(rest)


if __name__ == '__main__':
    sys.exit(main())
