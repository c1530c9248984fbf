"""``move-orchestrator-api``: the task API over HTTP in one command.

Serves on ``[api] bind_host``:``bind_port`` with the standard library's
threaded WSGI server and, by default, runs the moves in this process
(``[api] run_moves``) when no conductor runs this database's moves. For
production, run ``move_orchestrator.api.wsgi:application`` in a WSGI
server (doc/source/api.rst).
"""

import sys

from oslo_log import log as logging

from move_orchestrator.api import server
from move_orchestrator.cmd import manage
from move_orchestrator.cmd import start
from move_orchestrator.conf import CONF

LOG = logging.getLogger('move_orchestrator.cmd.api')


def main(argv=None):
    code = start.configure(argv, 'move-orchestrator-api')
    if code is not None:
        return code
    manage.sync_schema()    # as the embedded CLI: the database is ours
    app = server.make_app(CONF)
    httpd = server.make_server(app, CONF.api.bind_host, CONF.api.bind_port)
    host, port = httpd.server_address[:2]
    LOG.info('move-orchestrator-api serving on http://%s:%s/', host, port)
    print('move-orchestrator-api serving on http://%s:%s/' % (host, port),
          flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
