"""``move-orchestrator-api``: the task API over HTTP in one command.

Serves on ``[api] bind_host``:``bind_port`` with the standard library's
threaded WSGI server and, by default, runs the moves in this process
(``[api] run_moves``) when no conductor runs this database's moves. For
production, run ``move_orchestrator.api.wsgi:application`` in a WSGI
server (doc/source/api.rst).

SIGTERM (a service manager's stop) and SIGINT (Ctrl-C) stop it: it stops
serving, then, if it runs moves, stops them as the conductor service does
(``shutdown_timeout``); a second signal exits at once.
"""

import signal
import sys

from oslo_log import log as logging

from move_orchestrator.api import server
from move_orchestrator.cmd import conductor as conductor_cmd
from move_orchestrator.cmd import manage
from move_orchestrator.cmd import start
from move_orchestrator.conductor import api as conductor_api
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF

LOG = logging.getLogger('move_orchestrator.cmd.api')


def main(argv=None):
    code = start.configure(argv, 'move-orchestrator-api')
    if code is not None:
        return code
    manage.sync_schema()    # as the embedded CLI: the database is ours
    api = conductor_api.ConductorAPI(services_mod.Services(CONF))
    app = server.make_app(CONF, api)
    httpd = server.make_server(app, CONF.api.bind_host, CONF.api.bind_port)
    host, port = httpd.server_address[:2]
    LOG.info('move-orchestrator-api serving on http://%s:%s/', host, port)
    print('move-orchestrator-api serving on http://%s:%s/' % (host, port),
          flush=True)
    try:
        # Both set here: a shell that starts a command in the background
        # makes it ignore SIGINT, and SIGTERM's default skips every clean-up.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop_serving)
        httpd.serve_forever()
    except _Stop as stop:
        LOG.info('move-orchestrator-api stopping (%s)', stop)
    finally:
        httpd.server_close()
    if api.conductor.owns_database:
        conductor_cmd.drain_moves(api, CONF)
    return 0


class _Stop(Exception):
    """Raised in the serving loop by a stop signal."""


def _stop_serving(signum, frame):
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)      # a second one: at once
    raise _Stop(signal.Signals(signum).name)


if __name__ == '__main__':
    sys.exit(main())
