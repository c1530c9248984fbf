"""Hold a migration's wait while its guest is paused.

From the source's switch-over (``pre-switchover``, ``device``) until the
destination's RESUME the guest runs nowhere. A wait_migration that
returned then would let its caller (a conductor step) save its success and
schedule the next step meanwhile, taking CPU from the destination QEMU
still loading the last pages: the guest's pause grows by that work. So the
wait stays idle on QEMU's events until the guest runs again, or HOLD_BOUND
passes (a destination hung: the caller then carries on as without the
hold). A source at ``pre-switchover`` whose switch-over watcher is gone
needs its caller (complete_migration continues it): no hold then; one
whose watcher has continued it and ended is held as one it continues.
Nothing is written here; what follows the hold is the poll it would have
made anyway.
"""

import time

from move_orchestrator.drivers.compute.qemu import qmp

HOLD_BOUND = 3.0        # seconds the guest may stay paused before the wait ends
PAUSED = ('pre-switchover', 'device')
HELD = PAUSED + ('completed',)      # the source's statuses the hold waits through
BEFORE = 'the source is not at the switch-over yet'
RUNS = 'the guest runs on the destination'


def wait_event(q, names, deadline):
    """Whether one of the events came before deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    try:
        q.wait_event(names, timeout=left)
    except qmp.QMPError as e:
        if e.kwargs.get('operation') != 'wait_event':
            raise
        return False
    return True


def hold(src_q, dst, watched, bound=HOLD_BOUND):
    """Until the guest runs on dst (a process.Domain; its QEMU is not
    looked for when this process cannot see it), or bound seconds passed.
    watched(): whether the host side continues the guest from
    pre-switchover (asked there only). Returns why it ended, for the
    caller's log; BEFORE for a source not there yet."""
    deadline = time.monotonic() + bound
    status = src_q.execute('query-migrate').get('status')
    while status in PAUSED:
        if status == 'pre-switchover' and not watched():
            return 'the switch-over watcher is not alive'
        if not wait_event(src_q, 'MIGRATION', deadline):
            return 'timeout: the source still %s after %ss' % (status, bound)
        status = src_q.execute('query-migrate').get('status')
    if status != 'completed':
        return BEFORE
    if dst is None or dst.pid() is None:
        return 'the destination is not seen from here'
    with dst.qmp(timeout=bound) as q:
        # Only while it loads: a guest that arrived paused (paused on the
        # source on purpose) waits for whoever runs it, not for this hold.
        while True:
            run_state = q.execute('query-status')['status']
            if run_state == 'running':
                return RUNS
            if run_state != 'inmigrate':
                return 'the destination is not loading (%s)' % run_state
            incoming = q.execute('query-migrate').get('status')
            if incoming in ('failed', 'cancelled'):
                return 'the destination is not loading (migration %s)' % incoming
            if not wait_event(q, ('RESUME', 'MIGRATION'), deadline):
                return 'timeout: the destination still loading after %ss' % bound
