"""``move-orchestrator-conductor``: the conductor service.

Serves the RPC API (manager.ConductorManager) on topic ``move_orchestrator``
as server ``[DEFAULT] host``, and runs the moves with the durable conductor.

The processes are supervised by cotyledon: a master process that only
forks and watches, an RPC process, and with ``move_runner = process`` (the
default) a move runner process, at a lower CPU priority, which owns the
database's moves; the RPC process only accepts moves and answers reads, so
requests are answered in milliseconds however many moves are running. With
``thread`` the moves run in the RPC process's thread pool. A process that
dies is replaced at once; a move runner's replacement hands its
predecessor's jobs back to the board first, in jobboard mode, and takes
its moves up.

On start it refuses an out-of-date schema and resumes every move a previous
process left unfinished.

With ``[jobboard] backend`` set, moves are posted as jobs on a Redis
jobboard and every conductor's move runner claims and runs them
(``conductor/jobboard.py``): any number of conductors share one database.

On SIGTERM it stops taking requests, answers those in flight, then gives
running moves ``shutdown_timeout`` seconds to finish; moves still running
then are suspended after their current step, persisted as they are, and
resume in the next conductor (with a jobboard, their jobs are handed back
as each suspends, so another conductor takes them at once). SIGINT stops
every process at once; the moves resume in the next conductor.
"""

import fcntl
import logging as std_logging
import multiprocessing
import os
import sys
import threading
import time

from alembic import script as alembic_script
import cotyledon
from oslo_log import log as logging

from move_orchestrator.cmd import start
from move_orchestrator.conductor import api as conductor_api
from move_orchestrator.conductor import claims
from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.db import migration
from move_orchestrator.db import session as db_session
from move_orchestrator import manager
from move_orchestrator import notifications
from move_orchestrator import rpc

LOG = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.0005
# Seconds a suspended move's current step gets to return on shutdown.
SUSPEND_GRACE = 10.0
# Seconds the RPC process waits for the first move runner before serving.
RUNNER_START_TIMEOUT = 60.0


def schema_is_current(url):
    head = alembic_script.ScriptDirectory(
        migration.SCRIPT_LOCATION).get_current_head()
    current = migration.version(url)
    if current != head:
        LOG.error('The database schema is at %s, not %s: run '
                  '"move-orchestrator-manage db sync" first', current, head)
        return False
    return True


def drain_moves(api, conf):
    """Give running moves ``shutdown_timeout`` s, then suspend the rest;
    returns whether every move thread ended."""
    conductor = api.conductor
    conductor.claims.stop()     # take no more moves
    # Behind a jobboard the others take the moves over as soon as they are
    # handed back: suspend them now rather than let them run on.
    grace = 0.0 if conductor.claims.posts_jobs else conf.shutdown_timeout
    deadline = time.monotonic() + grace
    while not conductor.idle() and time.monotonic() < deadline:
        time.sleep(0.05)
    done = threading.Event()

    def _suspend_and_shutdown():
        # Off the calling thread: TaskFlow's suspend() waits for the
        # engine's state lock, which a step that does not return keeps.
        if not conductor.idle():
            LOG.warning('Moves still running after %.1f s are suspended '
                        'after their current step and left to the next '
                        'conductor, which resumes them', grace)
            conductor.suspend_all()
        api.shutdown(wait=True)
        done.set()

    threading.Thread(target=_suspend_and_shutdown, daemon=True).start()
    finished = done.wait(max(SUSPEND_GRACE, conf.shutdown_timeout))
    if not finished:
        LOG.warning('A move step did not return: exiting without it; its '
                    'move resumes with the next conductor')
    return finished


class Wakeup:
    """The RPC process's "look now" to the move runner, over a pipe the
    master opens before forking: moves (or drains) it accepted or acted on
    are run at once rather than at the watch's next turn. The master keeps
    both ends, so a runner's replacement reads what its predecessor left."""

    def __init__(self, context):
        # Set once a move runner is up: the RPC process serves after it.
        self.runner_ready = context.Event()
        self.read_fd, self.write_fd = os.pipe()
        flags = fcntl.fcntl(self.write_fd, fcntl.F_GETFL)
        fcntl.fcntl(self.write_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)

    def send(self):
        try:
            os.write(self.write_fd, b'.')
        except BlockingIOError:
            pass    # a full pipe: the runner has looks pending already

    def serve(self, kick):
        while True:
            if os.read(self.read_fd, 4096):
                kick()


def _flush_logs():
    for handler in std_logging.getLogger().handlers:
        handler.flush()


def _hand_back_jobs(services, conf, pid):
    """A dead predecessor's jobs, back on the board at once rather than
    when their claims lapse."""
    from move_orchestrator.conductor import redisboard
    try:
        given = redisboard.abandon_jobs_of(services, '%s.%d' % (conf.host, pid))
        LOG.info('Handed back the %d jobs of move runner %d', given, pid)
    except Exception:
        LOG.exception('Could not hand back the jobs of move runner %d: '
                      'their claims lapse', pid)


class _Worker(cotyledon.Service):
    """What both processes share: the conductor API over the database,
    and a grace on SIGTERM long enough for the moves' own."""

    def __init__(self, worker_id, conf, run_moves, last_pid):
        super().__init__(worker_id)
        self.conf = conf
        self.graceful_shutdown_timeout = int(
            conf.shutdown_timeout + SUSPEND_GRACE + 10)
        self.services = services_mod.Services(conf)
        if run_moves:
            if last_pid.value and conf.jobboard.backend:
                _hand_back_jobs(self.services, conf, last_pid.value)
            last_pid.value = os.getpid()
        self.api = conductor_api.ConductorAPI(
            self.services, runner.Conductor(
                self.services, claims.for_conf(self.services, run=run_moves)))

    def _end(self, finished):
        _flush_logs()
        if not finished:     # leave without move threads that did not return
            os._exit(0)


class MoveRunner(_Worker):
    """The process that runs the moves: owner of the database's moves,
    sender of their notifications."""

    name = 'move runner'

    def __init__(self, worker_id, conf, wakeup, last_pid):
        os.nice(conf.move_runner_nice)   # before any thread: all inherit it
        super().__init__(worker_id, conf, True, last_pid)
        self.notifier = notifications.setup(
            self.api.conductor.recorder, self.services.records, conf)
        resumed = self.api.conductor.resume_unfinished()
        LOG.info('Move runner %d: %s', os.getpid(),
                 'took up %d unfinished moves' % len(resumed)
                 if self.api.conductor.owns_database
                 else 'another conductor runs the moves of this database')
        threading.Thread(target=wakeup.serve, args=(self._kick,),
                         name='runner-wakeup', daemon=True).start()
        LOG.info('Moves run in process %d', os.getpid())
        wakeup.runner_ready.set()

    def _kick(self):
        if self.api.conductor.owns_database:
            self.api.conductor.kick()

    def terminate(self):
        finished = drain_moves(self.api, self.conf)
        if self.notifier is not None:
            self.notifier.stop(timeout=5)
        self._end(finished)


class RPCService(_Worker):
    """The RPC server; runs the moves itself only with move_runner=thread."""

    name = 'rpc'

    def __init__(self, worker_id, conf, wakeup, last_pid):
        self.run_moves = conf.move_runner == 'thread'
        super().__init__(worker_id, conf, self.run_moves, last_pid)
        self.wakeup = wakeup
        self.transport = rpc.get_rpc_transport(conf)
        # The moves' state changes are sent by whoever runs them; this
        # process sends "move.accepted" in either case.
        self.notifier = notifications.setup(
            self.api.conductor.recorder, self.services.records, conf) \
            if self.run_moves else notifications.build(self.services.records,
                                                       conf)
        self.server = rpc.get_server(
            self.transport, conf.host,
            [manager.ConductorManager(self.api, on_change=self.nudge,
                                      notifier=self.notifier)])
        if self.run_moves:
            resumed = self.api.conductor.resume_unfinished()
            LOG.info('Took up %d unfinished moves', len(resumed))
        if conf.move_runner == 'process' and \
                not wakeup.runner_ready.wait(RUNNER_START_TIMEOUT):
            LOG.warning('The move runner is not up after %d s: serving '
                        'without it; accepted moves wait for it',
                        RUNNER_START_TIMEOUT)
        self.server.start()
        LOG.info('Conductor %s serving topic %s on %s', conf.host,
                 rpc.TOPIC, rpc.masked_url(conf.transport_url))

    def nudge(self, move_id, interrupted=False):
        """Hand a move that wants running to the move runner."""
        if not self.run_moves and \
                not self.api.conductor.claims.posts_jobs:
            self.wakeup.send()

    def terminate(self):
        """Stop serving, then stop running moves (see the module doc)."""
        LOG.info('Stopping: no new requests')
        self.server.stop()
        self.server.wait()
        finished = True
        if self.run_moves:
            finished = drain_moves(self.api, self.conf)
        else:
            self.api.shutdown(wait=True)
        if self.notifier is not None:
            self.notifier.stop(timeout=5)
        self.transport.cleanup()
        LOG.info('Conductor %s stopped', self.conf.host)
        self._end(finished)


class Supervisor(cotyledon.ServiceManager):
    """The master: forks the processes, replaces one that dies."""

    def __init__(self, conf):
        # Fork, whatever the platform's default: the processes inherit
        # the wakeup pipe and the parsed configuration.
        context = multiprocessing.get_context('fork')
        super().__init__(
            graceful_shutdown_timeout=int(conf.shutdown_timeout
                                          + SUSPEND_GRACE + 20),
            mp_context=context)
        wakeup = Wakeup(context)
        self.runner_pid = context.Value('i', 0)
        self.runner_id = None
        if conf.move_runner == 'process':
            self.runner_id = self.add(MoveRunner,
                                      args=(conf, wakeup, self.runner_pid))
        self.add(RPCService, args=(conf, wakeup, self.runner_pid))
        self.register_hooks(on_dead_worker=self._worker_died)

    def _worker_died(self, service_id, worker_id, exit_code):
        what = 'move runner %d' % self.runner_pid.value \
            if service_id == self.runner_id else 'RPC process'
        LOG.error('The %s exited (%s): starting another, which takes its '
                  'moves up', what, exit_code)


def main(argv=None):
    code = start.configure(argv, 'move-orchestrator-conductor')
    if code is not None:
        return code
    # Threads share the GIL; a short switch interval keeps a request from
    # waiting 5 ms at every hand-over (see benchmarks/bench_rpc.py).
    sys.setswitchinterval(SWITCH_INTERVAL)
    if not CONF.transport_url:
        LOG.error('[DEFAULT] transport_url is not set: the service needs a '
                  'message broker (rabbit://user:password@host:5672/)')
        return start.EXIT_CONFIG
    try:
        if not schema_is_current(CONF.database.connection):
            return 1
    finally:
        db_session.reset()   # no connection of the master's is forked
    Supervisor(CONF).run()   # exits on SIGTERM


if __name__ == '__main__':
    sys.exit(main())
