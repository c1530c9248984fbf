"""Following a live migration to its end, on the conductor side.

The source says how the copy goes. Some hypervisors run the guest on the
destination well before the source can say the migration ended: libvirt
resumes it there, then its source daemon ends the source QEMU with
SIGTERM and looks again 200 ms later, answering nothing about the domain
meanwhile. Waiting for the source's word leaves the guest running where
its ports are not active yet for that long. Such a driver's migration
says ``arrives_first``: the destination is asked at the same time, and
the moment it runs the guest, the migration has completed for the move
(past the switch-over, nothing can undo it), which goes on while the
source finishes; the source's cleanup waits for that end (the driver's
destroy).
"""

from concurrent import futures
import time

import futurist
from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator import exception

LOG = logging.getLogger(__name__)
# Seconds before the destination is asked again, once it said the guest is
# not on its way there (a copy not yet started, or cancelled) or stopped
# waiting for it (a long copy).
ASK_AGAIN = 0.5
# What the source said of the migration that still holds once it ended
# (its figures while it ran do not: the destination's replace them).
_KEPT = ('id', 'source', 'dest', 'started_at', 'postcopy_permitted',
         'arrives_first')


class Follower:
    """``wait()`` answers as the driver's wait_migration does, or the
    migration completed with the destination's word (``arrived``, what
    wait_arrival answers). ``close()`` once the migration is decided:
    a call still under way ends by itself, unread."""

    def __init__(self, driver, instance_uuid, source, dest):
        self.driver = driver
        self.instance_uuid, self.source, self.dest = instance_uuid, source, dest
        self._pool = None
        self._asking = None     # the source's wait_migration, under way
        self._watch = None      # the destination's arrival, asked
        self._next_watch = 0.0

    def wait(self, migration, timeout, wake_at_pass=True,
             look_at_passes=True):
        if not (migration and migration.get('arrives_first')):
            return self.driver.wait_migration(self.instance_uuid, timeout,
                                              source=self.source,
                                              wake_at_pass=wake_at_pass,
                                              look_at_passes=look_at_passes)
        if self._pool is None:
            self._pool = futurist.ThreadPoolExecutor(max_workers=2)
        self._ask_destination()
        while True:
            if self._asking is None:
                self._asking = self._pool.submit(
                    self.driver.wait_migration, self.instance_uuid, timeout,
                    source=self.source, wake_at_pass=wake_at_pass,
                    look_at_passes=look_at_passes)
            futures.wait([f for f in (self._asking, self._watch) if f],
                         return_when=futures.FIRST_COMPLETED)
            arrived = self._arrival()
            if arrived is not None:
                LOG.info('%s runs on %s: its live migration completed, '
                         'the source is ending', self.instance_uuid, self.dest)
                return dict({k: migration[k] for k in _KEPT if k in migration},
                            status=base.MIGRATION_COMPLETED, remaining_mb=0,
                            paused=False, arrived=arrived)
            if self._asking.done():
                asking, self._asking = self._asking, None
                return asking.result()

    def _ask_destination(self):
        """One question at a time: it waits while the guest is on its way
        (the destination's driver knows one is, from accept_migration)."""
        if self._watch is None and time.monotonic() >= self._next_watch:
            self._watch = self._pool.submit(self.driver.wait_arrival,
                                            self.instance_uuid, self.dest)

    def _arrival(self):
        """The destination's word once it answered, else None; a question
        that failed (no guest on its way yet, a lost call) is asked again
        later: the source's word decides meanwhile."""
        if self._watch is None or not self._watch.done():
            return None
        watch, self._watch = self._watch, None
        try:
            return watch.result()
        except (exception.DriverNotSupported, exception.AgentTooOld) as e:
            LOG.debug('%s: %s; the source alone tells the end', self.instance_uuid, e)
            self._next_watch = float('inf')
            return None
        except exception.MoveOrchestratorException as e:
            LOG.debug('%s: not yet running on %s: %s', self.instance_uuid,
                      self.dest, e)
        except Exception:   # a side question never fails the move
            LOG.warning('%s: asking %s whether the guest arrived failed; the '
                        'source\'s word decides', self.instance_uuid, self.dest,
                        exc_info=True)
        self._next_watch = time.monotonic() + ASK_AGAIN
        return None

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False)
