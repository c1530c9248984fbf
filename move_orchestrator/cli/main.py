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
import pbr.version

from move_orchestrator.cli import errors
from move_orchestrator.cli import exitcodes
from move_orchestrator.conf import CONF
from move_orchestrator.conf import validate
from move_orchestrator import logs

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
    validate.parse(CONF, config_args)
    logs.setup(CONF, 'move-orchestrator')
    if not CONF.debug and not CONF.log_file:
        # Operators read tables; the log says only what went wrong.
        for name in (None, 'alembic'):
            std_logging.getLogger(name).setLevel(std_logging.WARNING)
        # A failed command is reported once, as one line (cli/errors.py);
        # oslo.db would also log the error it wrapped, traceback and all.
        # oslo.messaging logs each retry to reach the broker; the CLI gives
        # up after rpc_response_timeout and says so (cli/remote.py).
        for name in ('oslo_db', 'oslo.messaging'):
            std_logging.getLogger(name).setLevel(std_logging.CRITICAL)


def version():
    return pbr.version.VersionInfo('move-orchestrator').release_string()


class MoveOrchestratorApp(app.App):
    # cliff reports a failed command through LOG: one line, no traceback
    # unless --debug.
    LOG = errors.ErrorReporter()

    def __init__(self):
        super().__init__(
            description='Move virtual machines: live-migrate, cold-migrate, '
                        'resize, live-resize, evacuate; inspect and steer '
                        'their tasks.',
            version=version(),
            command_manager=commandmanager.CommandManager(
                'move_orchestrator.cli'),
            deferred_help=True)
        self.client = None
        self.config_args = []

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
    try:
        setup_config(config_args)
    except validate.ConfigInvalid as e:
        sys.stderr.write('Error: %s\n' % e)
        return exitcodes.USAGE
    cli = MoveOrchestratorApp()
    cli.config_args = config_args
    return cli.run(rest)


if __name__ == '__main__':
    sys.exit(main())
