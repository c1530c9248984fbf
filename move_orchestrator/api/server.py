"""Setting the API up in a process, and serving it on its own (the
embedded mode) with the standard library's WSGI server, one thread a
request. Production deployments put ``api.wsgi:application`` behind a
WSGI server instead (doc/source/api.rst)."""

import socketserver
from wsgiref import simple_server

from oslo_log import log as logging

from move_orchestrator.api import pipeline
from move_orchestrator.conductor import api as conductor_api
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.service import operations

LOG = logging.getLogger(__name__)


def setup(argv, conf=CONF):
    """Configuration, logging, then the WSGI callable."""
    logging.register_options(conf)
    conf(argv, project='move-orchestrator')
    logging.setup(conf, 'move-orchestrator-api')
    return make_app(conf)


def make_app(conf=CONF, api=None):
    """The application over a ConductorAPI (a new one by default)."""
    api = api or conductor_api.ConductorAPI(services_mod.Services(conf))
    if conf.api.run_moves and api.conductor.start():
        LOG.info('The API process runs the moves of this database')
    return pipeline.build(conf, operations.MoveService(api))


class ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        LOG.info('%s %s', self.address_string(), fmt % args)


def make_server(app, host, port):
    return simple_server.make_server(host, port, app,
                                     server_class=ThreadingServer,
                                     handler_class=Handler)
