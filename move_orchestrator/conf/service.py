"""[DEFAULT] options of the conductor service, and oslo.messaging's own.

oslo.messaging registers ``transport_url`` only when a transport is built;
we register its [DEFAULT] options up front so that the CLI can tell from
``transport_url`` whether to talk to a service or run moves in-process.
"""

import socket

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import opts as messaging_opts

OPTS = [
    cfg.StrOpt('host', default=socket.gethostname(), sample_default='<host>',
               help='Name of this conductor: its RPC server name on the '
                    '"move_orchestrator" topic and the publisher of its '
                    'notifications. Unique per conductor process.'),
    cfg.FloatOpt('shutdown_timeout', default=60.0, min=0,
                 help='Seconds the conductor service waits on SIGTERM for '
                      'its running moves to finish. Moves still running '
                      'then are left to the next conductor, which resumes '
                      'them from their persisted state.'),
    cfg.StrOpt('move_runner', default='process',
               choices=[('process', 'moves run in a child process of the '
                         'service, which owns the database\'s moves'),
                        ('thread', 'moves run in the RPC process\'s '
                         'threads')],
               help='Where the conductor service runs moves. In a process '
                    'of their own, the moves do not slow down the answers '
                    'to RPC requests.'),
    cfg.IntOpt('move_runner_nice', default=10, min=0, max=19,
               help='Niceness added to the move runner process, so that '
                    'the RPC process gets the CPU first.'),
]


def register_opts(conf):
    conf.register_opts(OPTS)
    oslo_messaging.set_transport_defaults(control_exchange='move_orchestrator')
    for group, group_opts in messaging_opts.list_opts():
        if group is None:
            conf.register_opts(group_opts)
    # Unset means embedded mode: no broker is assumed (oslo.messaging's own
    # default is rabbit://localhost).
    conf.set_default('transport_url', None)


def list_opts():
    # oslo.messaging's options are listed under its own namespace.
    return {'DEFAULT': OPTS}
