"""When the guest of bench_libvirt starts running on its destination, from
libvirt's own lifecycle events (RESUMED, MIGRATED), in the bench's process.

Why: libvirt resumes the guest on the destination well before
``migrateToURI3`` returns. The source's daemon then ends the source QEMU
with SIGTERM and looks again 200 ms later (virProcessKillPainfully), and
its calls on the domain wait meanwhile. Whatever waits for the call's
return (our move's TransferMemory did) leaves the guest
running on a host whose ports are not yet active for that long. The
report prints, per kind, what happens after the guest runs there.
"""

import threading
import time


class Arrivals:
    """The wall-clock time (time.time()) of each migrated guest's resume,
    on the daemons at ``uris``; ``since(t)``: the first after t."""

    def __init__(self, uris):
        from move_orchestrator.drivers.compute.libvirt import events
        from move_orchestrator.drivers.compute.libvirt import states
        lv = states.libvirt
        events.start_loop()
        self._lock = threading.Lock()
        self._resumed = []
        self._conns = []
        for uri in uris:
            conn = lv.open(uri)
            conn.domainEventRegisterAny(
                None, lv.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)
            self._conns.append(conn)

    def _event(self, conn, dom, event, detail, opaque):
        from move_orchestrator.drivers.compute.libvirt import states
        lv = states.libvirt
        if (event, detail) == (lv.VIR_DOMAIN_EVENT_RESUMED,
                               lv.VIR_DOMAIN_EVENT_RESUMED_MIGRATED):
            with self._lock:
                self._resumed.append(time.time())

    def since(self, started, wait=1.0):
        """The first resume at or after started (waiting up to ``wait`` s
        for the event to arrive); None if none came."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                found = [t for t in self._resumed if t >= started]
            if found or time.monotonic() > deadline:
                return min(found) if found else None
            time.sleep(0.01)

    def close(self):
        from move_orchestrator.drivers.compute.libvirt import states
        for conn in self._conns:
            try:
                conn.close()
            except states.libvirt.libvirtError:   # its daemon went first
                pass
        self._conns = []
