"""``move-orchestrator-conductor``: the conductor service.

Serves the RPC API (manager.ConductorManager) on topic ``move_orchestrator``
as server ``[DEFAULT] host``, and runs the moves with the durable conductor.

With ``move_runner = process`` (the default) the moves run in a child
process of their own, at a lower CPU priority, which owns the database's
moves; the RPC process only accepts moves and answers reads, so requests
are answered in milliseconds however many moves are running. With
``thread`` the moves run in the RPC process's thread pool.

On start it refuses an out-of-date schema and resumes every move a previous
process left unfinished. A move runner child that dies is replaced at once
(its jobs handed back to the board first, in jobboard mode); the service
goes on serving.

With ``[jobboard] backend`` set, moves are posted as jobs on a Redis
jobboard and every conductor's move runner claims and runs them
(``conductor/jobboard.py``): any number of conductors share one database.

On SIGTERM or SIGINT it stops taking requests, answers those in flight,
then gives running moves ``shutdown_timeout`` seconds to finish; moves
still running then are suspended after their current step, persisted as
they are, and resume in the next conductor (with a jobboard, their jobs
are handed back as each suspends, so another conductor takes them at
once).
"""

import logging as std_logging
import os
import signal
import subprocess
import sys
import threading
import time

from alembic import script as alembic_script
from oslo_log import log as logging

from move_orchestrator.conductor import api as conductor_api
from move_orchestrator.conductor import claims
from move_orchestrator.conductor import runner
from move_orchestrator.conductor import services as services_mod
from move_orchestrator.conf import CONF
from move_orchestrator.conf import validate
from move_orchestrator.db import migration
from move_orchestrator import logs
from move_orchestrator import manager
from move_orchestrator import notifications
from move_orchestrator import rpc

# Named, not __name__: the move runner child runs this module as __main__.
LOG = logging.getLogger('move_orchestrator.cmd.conductor')
SWITCH_INTERVAL = 0.0005
# Seconds a suspended move's current step gets to return on shutdown.
SUSPEND_GRACE = 10.0
# Set in the move runner child: the pipe on which it says it is ready.
RUNNER_FD_ENV = 'MOVE_ORCHESTRATOR_RUNNER_FD'
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
        # Off the main thread: TaskFlow's suspend() waits for the engine's
        # state lock, which a step that does not return keeps.
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


class Process:
    """Signals and the wait for them, shared by both roles."""

    def __init__(self):
        self.stopping = threading.Event()

    def handle_signals(self, *signums):
        def _on_signal(signum, frame):
            if self.stopping.is_set():
                LOG.warning('Second signal %d: exiting now; running moves '
                            'resume with the next conductor', signum)
                os._exit(1)
            LOG.info('Signal %d received', signum)
            self.stopping.set()
        for signum in signums:
            signal.signal(signum, _on_signal)

    def wait(self, also=None):
        while not self.stopping.wait(1):
            if also is not None and also():
                return


class MoveRunner(Process):
    """The child that runs the moves: owner of the database's moves,
    sender of their notifications."""

    def __init__(self, conf=CONF):
        super().__init__()
        self.conf = conf
        self.services = services_mod.Services(conf)
        self.api = conductor_api.ConductorAPI(
            self.services, runner.Conductor(
                self.services, claims.for_conf(self.services, run=True)))
        self.notifier = notifications.setup(
            self.api.conductor.recorder, self.services.records, conf)

    def run(self, ready_fd):
        self.handle_signals(signal.SIGTERM)
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides
        resumed = self.api.conductor.resume_unfinished()
        owner = self.api.conductor.owns_database
        LOG.info('Move runner %d: %s', os.getpid(),
                 'took up %d unfinished moves' % len(resumed) if owner
                 else 'another conductor runs the moves of this database')
        threading.Thread(target=self._read_parent, name='runner-pipe',
                         daemon=True).start()
        os.write(ready_fd, b'1')
        os.close(ready_fd)
        self.wait()
        finished = drain_moves(self.api, self.conf)
        if self.notifier is not None:
            self.notifier.stop(timeout=5)
        return finished

    def _read_parent(self):
        """Moves (or drains) the RPC process accepted or acted on, one
        "TASK_ID INTERRUPTED" a line on stdin: the watch looks at once
        rather than at its next turn, and runs what admission lets run.
        End of file: the parent is gone."""
        conductor = self.api.conductor
        for line in sys.stdin:
            task_id = line.strip().partition(' ')[0]
            if task_id and conductor.owns_database and \
                    not self.stopping.is_set():
                conductor.kick()
        if not self.stopping.is_set():
            LOG.warning('The RPC process is gone: stopping')
            self.stopping.set()


class ConductorService(Process):
    """The RPC server; runs the moves itself only with move_runner=thread."""

    def __init__(self, conf=CONF):
        super().__init__()
        self.conf = conf
        self.run_moves = conf.move_runner == 'thread'
        self.services = services_mod.Services(conf)
        self.api = conductor_api.ConductorAPI(
            self.services, runner.Conductor(
                self.services, claims.for_conf(self.services,
                                               run=self.run_moves)))
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
        self.runner = None
        self._argv = []
        self.runner_failed = False
        self._pipe_lock = threading.Lock()

    def nudge(self, move_id, interrupted=False):
        """Hand a move that wants running to the move runner."""
        if self.runner is None or self.api.conductor.claims.posts_jobs:
            return
        try:
            with self._pipe_lock:
                self.runner.stdin.write(b'%s %d\n' % (move_id.encode(),
                                                      interrupted))
                self.runner.stdin.flush()
        except (OSError, ValueError):
            LOG.warning('Could not hand move %s to the move runner; its '
                        'watch takes it up', move_id)

    def start(self, argv):
        if self.run_moves:
            resumed = self.api.conductor.resume_unfinished()
            LOG.info('Took up %d unfinished moves', len(resumed))
        else:
            self._argv = argv
            self.runner = self._spawn_runner(argv)
        self.server.start()
        LOG.info('Conductor %s serving topic %s on %s', self.conf.host,
                 rpc.TOPIC, rpc.masked_url(self.conf.transport_url))

    def _spawn_runner(self, argv):
        """The move runner child; returns once it owns the moves."""
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, **{RUNNER_FD_ENV: str(write_fd)})
        child = subprocess.Popen(
            [sys.executable, '-m', 'move_orchestrator.cmd.conductor'] + argv,
            env=env, pass_fds=(write_fd,), start_new_session=True,
            stdin=subprocess.PIPE)
        os.close(write_fd)
        with os.fdopen(read_fd, 'rb') as ready:
            timer = threading.Timer(RUNNER_START_TIMEOUT, child.kill)
            timer.start()
            ok = ready.read(1) == b'1'
            timer.cancel()
        if not ok:
            raise RuntimeError('the move runner did not start (exit code '
                               '%s)' % child.poll())
        LOG.info('Moves run in process %d', child.pid)
        return child

    def runner_died(self):
        """Replace a move runner that died; True if that failed too."""
        if self.runner is None or self.runner.poll() is None:
            return False
        dead = self.runner.pid
        LOG.error('The move runner %d exited (%s): starting another, which '
                  'takes its moves up', dead, self.runner.returncode)
        if self.api.conductor.claims.posts_jobs:
            from move_orchestrator.conductor import jobboard
            try:
                given = jobboard.abandon_jobs_of(
                    self.services, '%s.%d' % (self.conf.host, dead))
                LOG.info('Handed back the %d jobs of move runner %d', given,
                         dead)
            except Exception:
                LOG.exception('Could not hand back the jobs of move runner '
                              '%d: their claims lapse', dead)
        try:
            with self._pipe_lock:
                self.runner.stdin.close()
            self.runner = self._spawn_runner(self._argv)
        except Exception:
            LOG.exception('The move runner could not be replaced: stopping')
            self.runner_failed = True
            return True
        return False

    def stop(self):
        """Stop serving, then stop running moves (see the module doc).
        Returns whether everything ended (else exit hard)."""
        LOG.info('Stopping: no new requests')
        if self.runner is not None and self.runner.poll() is None:
            self.runner.terminate()   # its moves' grace runs meanwhile
        self.server.stop()
        self.server.wait()
        finished = True
        if self.run_moves:
            finished = drain_moves(self.api, self.conf)
        else:
            self._stop_runner()
            self.api.shutdown(wait=True)
        if self.notifier is not None:
            self.notifier.stop(timeout=5)
        self.transport.cleanup()
        LOG.info('Conductor %s stopped', self.conf.host)
        return finished

    def _stop_runner(self):
        """Wait for the runner, signalled in stop(): one signal only, as
        a second one makes it exit at once."""
        if self.runner.poll() is None:
            with self._pipe_lock:
                self.runner.stdin.close()
            try:
                self.runner.wait(self.conf.shutdown_timeout
                                 + SUSPEND_GRACE + 10)
            except subprocess.TimeoutExpired:
                LOG.warning('The move runner did not stop: killing it')
                self.runner.kill()
                self.runner.wait()


def _exit_hard():
    """Leave without waiting for move threads that did not return."""
    for handler in std_logging.getLogger().handlers:
        handler.flush()
    os._exit(0)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    logging.register_options(CONF)
    try:
        validate.parse(CONF, argv)
    except validate.ConfigInvalid as e:
        sys.stderr.write('Error: %s\n' % e)
        return 2
    runner_fd = os.environ.pop(RUNNER_FD_ENV, None)
    logs.setup(CONF, 'move-orchestrator-conductor')
    # Threads share the GIL; a short switch interval keeps a request from
    # waiting 5 ms at every hand-over (see benchmarks/bench_rpc.py).
    sys.setswitchinterval(SWITCH_INTERVAL)
    if runner_fd is not None:
        os.nice(CONF.move_runner_nice)   # before any thread: all inherit it
        if not MoveRunner(CONF).run(int(runner_fd)):
            _exit_hard()
        return 0
    if not CONF.transport_url:
        LOG.error('[DEFAULT] transport_url is not set: the service needs a '
                  'message broker (rabbit://user:password@host:5672/)')
        return 2
    if not schema_is_current(CONF.database.connection):
        return 1
    service = ConductorService(CONF)
    service.handle_signals(signal.SIGTERM, signal.SIGINT)
    service.start(argv)
    service.wait(also=service.runner_died)
    if not service.stop():
        _exit_hard()
    return 1 if service.runner_failed else 0


if __name__ == '__main__':
    sys.exit(main())
