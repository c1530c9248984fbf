"""Where a conductor's moves come from: its claim source.

A claim source decides which moves this process runs and hands each one to
the conductor's one execution path (``Conductor.schedule``); the execution
is the same whatever the source. ``LocalClaims`` is the embedded one: the
process holding a file lock on the database runs all its moves. The jobboard
(``conductor/jobboard.py``) is the service one.
"""

import hashlib
import os
import tempfile
import threading

import fasteners
import sqlalchemy as sa
from oslo_log import log as logging

from move_orchestrator import states

LOG = logging.getLogger(__name__)


def runnable(services, moves):
    """Which of these unfinished moves may start running now.

    The admission seam: every claim source asks it before it takes a move
    up. This default lets every move run; the Conductor passes its own
    (``Conductor.admit``: the concurrency limits). Drains are advanced
    apart, once per look for work (``Conductor.tick_drains``).
    """
    return list(moves)


def conductor_name(conf):
    """This process, as claims and task records name it."""
    return '%s.%d' % (conf.host, os.getpid())


def lock_path(url):
    """The owner lock of a database: beside a SQLite file, else in /tmp."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith('sqlite') and parsed.database and \
            parsed.database != ':memory:':
        return os.path.abspath(parsed.database) + '.conductor.lock'
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(),
                        'move-orchestrator-%s.conductor.lock' % digest)


def for_conf(services, run=False):
    """The claim source ``services.conf`` asks for: the jobboard if
    ``[jobboard] backend`` is set (running moves only with ``run``, as a
    conductor service does), else the local owner lock."""
    if services.conf.jobboard.backend:
        from move_orchestrator.conductor import jobboard
        return jobboard.JobboardClaims(services, run=run)
    return LocalClaims(services)


class LocalClaims:
    """One process runs the moves of one database: the holder of a file
    lock beside it. Other processes (a second CLI, say) only persist moves
    for it and read the records. The lock dies with its process, so a
    killed conductor's moves go to the next one that starts."""

    posts_jobs = False
    workers = None

    def __init__(self, services, admit=runnable):
        self.services = services
        self.admit = admit
        self.conductor = None
        self._lock = threading.Lock()
        self._owner_lock = None
        self._stopping = threading.Event()
        self._kick = threading.Event()

    @property
    def owns(self):
        return self._owner_lock is not None

    def start(self, conductor):
        """Become the runner of this database's moves, if no other process
        is; returns whether this process is."""
        with self._lock:
            if self._owner_lock is not None:
                return True
            lock = fasteners.InterProcessLock(
                lock_path(self.services.conf.database.connection))
            if not lock.acquire(blocking=False):
                return False
            self._owner_lock = lock
            self.conductor = conductor
        LOG.info('Conductor %s runs the moves of this database', os.getpid())
        self.take_up()
        threading.Thread(target=self._watch, name='move-watcher',
                         daemon=True).start()
        return True

    def take_up(self):
        """Schedule every unfinished move that nothing runs here and that
        may run now. A move past ``accepted`` was interrupted: a previous
        conductor died with it, or an operator acted on it."""
        if not self.owns:
            return []
        self.conductor.tick_drains()
        waiting = [m for m in self.services.store.list_unfinished()
                   if m['state'] != states.FAILED
                   and not self.conductor.running(m['id'])]
        started = []
        for move in self.admit(self.services, waiting):
            LOG.info('Taking up move %s (%s, %s)', move['id'], move['type'],
                     move['state'])
            # Whether it had started is read from its atoms when it runs.
            self.conductor.schedule(move['id'], interrupted=True)
            started.append(move)
        return started

    def _watch(self):
        """Take up moves that other processes accept or act on, and the
        waiting ones a slot frees for (kick() wakes it at once)."""
        interval = self.services.conf.conductor.watch_interval
        while not self._stopping.is_set():
            self._kick.wait(interval)
            self._kick.clear()
            if self._stopping.is_set():
                return
            try:
                self.take_up()
            except Exception:
                LOG.exception('Looking for new moves failed; trying again')

    def kick(self):
        """Look again now: a move ended (its slot is free), or another
        process accepted or acted on one."""
        self._kick.set()

    def posted(self, move):
        """A move was accepted in this process."""
        if self.owns and self.admit(self.services, [move]):
            self.conductor.schedule(move['id'])

    def nudge(self, move_id):
        """An operator acted on a move: run it, if it is ours to run."""
        if self.owns and not self.conductor.running(move_id):
            self.conductor.schedule(move_id, interrupted=True)

    def holding(self, move_id):
        """The claim under which this process runs the move: the database's
        owner lock, held for the life of the process."""
        return LocalClaim(self.services.store, move_id,
                          conductor_name(self.services.conf))

    def stop(self):
        """Take up no more moves."""
        self._stopping.set()
        self._kick.set()

    def release(self):
        """Give up the moves (once they stopped running here)."""
        with self._lock:
            if self._owner_lock is not None:
                self._owner_lock.release()
                self._owner_lock = None


class LocalClaim:
    """A claim with nothing to renew: the owner lock is held for the life
    of the process. Its fencing token fences this run off from any earlier
    one of the same move all the same."""

    def __init__(self, store, move_id, conductor):
        self.store = store
        self.move_id = move_id
        self.conductor = conductor
        self.token = None

    def __enter__(self):
        self.token = self.store.take_claim(self.move_id, self.conductor)
        return self

    def __exit__(self, *exc):
        self.store.fences.release(self.move_id, self.token)
        return False

    @property
    def lost(self):
        return False

    def listeners(self, engine):
        return []
