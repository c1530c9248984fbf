"""libvirt's domain lifecycle events, as wake-ups for a wait.

Why: the destination's agent waits for a guest that is on its way (the
copy runs for seconds, then libvirt resumes the guest there). Looking at
the domain every few milliseconds cost a call to its daemon each time, on
cores the copy needs, and still saw the resume up to a look late. An event
wakes the wait the moment libvirt reports a change of the instance's
domain; the wait then asks libvirt what is true (the events say when to
look, never what is). A slow look remains for an event that was lost (a
connection that closed and was opened again).
"""

import contextlib
import threading
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute.libvirt import states

LOG = logging.getLogger(__name__)

_loop_lock = threading.Lock()
_loop_runs = False


def _run_loop():
    lv = states.libvirt
    while True:
        try:
            lv.virEventRunDefaultImpl()
        except Exception:   # the loop must outlive one bad turn
            LOG.exception('libvirt event loop: one turn failed')
            time.sleep(1)


def start_loop():
    """libvirt's default event loop, in a daemon thread, once per process.

    libvirt reads a connection's events only where a loop was registered
    before the connection opened: call this before the first open."""
    global _loop_runs
    with _loop_lock:
        if not _loop_runs:
            states.libvirt.virEventRegisterDefaultImpl()
            threading.Thread(target=_run_loop, name='libvirt-events',
                             daemon=True).start()
            _loop_runs = True


class Lifecycle:
    """Lifecycle events of the domains someone waits for, on the
    connections it watches: a count per domain UUID, and a wait for it to
    change. Events of other domains are dropped: an agent's host sees
    every domain's."""

    def __init__(self):
        self._cond = threading.Condition()
        self._seen = {}
        self._waiters = {}
        self._hosts = set()

    def watch(self, conn, host):
        """Whether conn's lifecycle events now reach this: a caller that
        gets False looks as often as it did without events."""
        lv = states.libvirt
        try:
            conn.domainEventRegisterAny(
                None, lv.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)
        except lv.libvirtError as e:
            LOG.warning('No lifecycle events from %s (%s): its domains are '
                        'looked at instead', host, e)
            self._hosts.discard(host)
            return False
        self._hosts.add(host)
        return True

    def watches(self, host):
        return host in self._hosts

    def _event(self, conn, dom, event, detail, opaque):
        uuid = dom.UUIDString()
        with self._cond:
            if uuid in self._seen:
                self._seen[uuid] += 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def following(self, uuid):
        """While in it, uuid's events are counted (mark, wait_change)."""
        with self._cond:
            self._waiters[uuid] = self._waiters.get(uuid, 0) + 1
            self._seen.setdefault(uuid, 0)
        try:
            yield
        finally:
            with self._cond:
                self._waiters[uuid] -= 1
                if not self._waiters[uuid]:
                    del self._waiters[uuid]
                    del self._seen[uuid]

    def mark(self, uuid):
        """What wait_change compares with: take it before the look."""
        with self._cond:
            return self._seen.get(uuid, 0)

    def wait_change(self, uuid, mark, timeout):
        """Until an event of uuid's domain came after mark, or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seen.get(uuid, 0) != mark,
                                timeout)
