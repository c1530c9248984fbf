"""What every service command does first, in one place: options parsed and
checked before anything runs (a bad file or value is one line on stderr and
exit 2), then logging with its guards (escaped values, masked passwords)."""

import sys

from oslo_log import log as logging

from move_orchestrator.conf import CONF
from move_orchestrator.conf import validate
from move_orchestrator import logs

#: The exit code of a command whose configuration is wrong.
EXIT_CONFIG = 2


def configure(argv, program):
    """Parse and check ``argv``'s options, set up logging as ``program``.

    Returns None when the command may go on, else the exit code.
    """
    argv = sys.argv[1:] if argv is None else argv
    logging.register_options(CONF)
    try:
        validate.parse(CONF, argv)
    except validate.ConfigInvalid as e:
        sys.stderr.write('Error: %s\n' % e)
        return EXIT_CONFIG
    logs.setup(CONF, program)
    return None
