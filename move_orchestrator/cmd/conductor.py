"""``move-orchestrator-conductor``: the conductor service.

Serves the RPC API (manager.ConductorManager) on topic ``move_orchestrator``
as server ``[DEFAULT] host``, and runs the moves with the durable conductor.
On start it refuses an out-of-date schema and resumes every move a previous
process left unfinished. On SIGTERM or SIGINT it stops taking requests,
answers those in flight, then gives running moves ``shutdown_timeout``
seconds to finish; moves still running then are suspended after their
current step, persisted as they are, and resume in the next conductor.
"""

import logging as std_logging
import os
import signal
import sys
import threading
import time

from alembic import script as alembic_script
from oslo_log import log as logging

from move_orchestrator.conductor import api as conductor_api
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.db import migration
from move_orchestrator import manager
from move_orchestrator import notifications
from move_orchestrator import rpc

LOG = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.0005
# Seconds a suspended move's current step gets to return on shutdown.
SUSPEND_GRACE = 10.0


def schema_is_current(url):
    head = alembic_script.ScriptDirectory(
        migration.SCRIPT_LOCATION).get_current_head()
    current = migration.version(url)
    if current != head:
        LOG.error('The database schema is at %s, not %s: run '
                  '"move-orchestrator-manage db sync" first', current, head)
        return False
    return True


class ConductorService:
    def __init__(self, conf=CONF):
        self.conf = conf
        self.services = services_mod.Services(conf)
        self.api = conductor_api.ConductorAPI(self.services)
        self.transport = rpc.get_rpc_transport(conf)
        self.notifier = notifications.setup(
            self.api.conductor.recorder, self.services.records, conf)
        self.server = rpc.get_server(
            self.transport, conf.host,
            [manager.ConductorManager(self.api)])
        self.stopping = threading.Event()

    def start(self):
        conductor = self.api.conductor
        resumed = conductor.resume_unfinished()
        if conductor.owns_database:
            LOG.info('Took up %d unfinished moves', len(resumed))
        else:
            LOG.warning('Another conductor runs the moves of this database: '
                        'this one only accepts moves and serves reads')
        self.server.start()
        LOG.info('Conductor %s serving topic %s on %s', self.conf.host,
                 rpc.TOPIC, rpc.masked_url(self.conf.transport_url))

    def stop(self):
        """Stop serving; give running moves ``shutdown_timeout`` seconds,
        then suspend those still running after their current step. Returns
        whether every thread ended (else the caller must exit hard)."""
        LOG.info('Stopping: no new requests')
        self.server.stop()
        self.server.wait()
        conductor = self.api.conductor
        deadline = time.monotonic() + self.conf.shutdown_timeout
        while not conductor.idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not conductor.idle():
            LOG.warning('Moves still running after %.1f s are suspended '
                        'after their current step and left to the next '
                        'conductor, which resumes them',
                        self.conf.shutdown_timeout)
            conductor.suspend_all()
        done = threading.Event()

        def _drain():
            self.api.shutdown(wait=True)
            done.set()

        threading.Thread(target=_drain, daemon=True).start()
        finished = done.wait(max(SUSPEND_GRACE, self.conf.shutdown_timeout))
        if not finished:
            LOG.warning('A move step did not return: exiting without it; '
                        'its move resumes with the next conductor')
        if self.notifier is not None:
            self.notifier.stop(timeout=5)
        self.transport.cleanup()
        LOG.info('Conductor %s stopped', self.conf.host)
        return finished

    def wait(self):
        while not self.stopping.wait(1):
            pass


def main(argv=None):
    logging.register_options(CONF)
    CONF(sys.argv[1:] if argv is None else argv, project='move-orchestrator')
    logging.setup(CONF, 'move-orchestrator-conductor')
    if not CONF.transport_url:
        LOG.error('[DEFAULT] transport_url is not set: the service needs a '
                  'message broker (rabbit://user:password@host:5672/)')
        return 2
    if not schema_is_current(CONF.database.connection):
        return 1
    # RPC handlers share the GIL with the threads running moves; a short
    # switch interval keeps a request from waiting behind them for 5 ms
    # at every hand-over (accepted-latency, see benchmarks/bench_rpc.py).
    sys.setswitchinterval(SWITCH_INTERVAL)
    service = ConductorService(CONF)

    def _on_signal(signum, frame):
        if service.stopping.is_set():
            LOG.warning('Second signal %d: exiting now; running moves '
                        'resume with the next conductor', signum)
            os._exit(1)
        LOG.info('Signal %d received', signum)
        service.stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    service.start()
    service.wait()
    finished = service.stop()
    if not finished:
        # Worker threads of unfinished moves must not hold the exit up.
        for handler in std_logging.getLogger().handlers:
            handler.flush()
        os._exit(0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
