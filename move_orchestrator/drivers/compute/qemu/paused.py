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

A hold that asked QEMU during the pause would lengthen it: a command on
the source waits its turn with the watcher's ``migrate-continue`` in the
main loop, and one on a destination that loads the last of the state
shares its main loop with that load. So the hold follows the source by
the MIGRATION events QEMU sends anyway, and the destination by the arrival
watcher's record (arrival.py), asking the destination only where no
arrival watcher runs, or where it stays silent.
"""

import os
import time

from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import destination
from move_orchestrator.drivers.compute.qemu import qmp

HOLD_BOUND = 3.0        # seconds the guest may stay paused before the wait ends
# Seconds for the arrival watcher's record once the source is done, before
# the destination is asked instead (the watcher is gone, say).
ARRIVAL_BOUND = 0.5
ARRIVAL_LOOK = 0.001    # seconds between two looks for it
PAUSED = ('pre-switchover', 'device')
HELD = PAUSED + ('completed',)      # the source's statuses the hold waits through
BEFORE = 'the source is not at the switch-over yet'
RUNS = 'the guest runs on the destination'
RECORDED = 'the destination\'s arrival watcher recorded the end of the copy'
# How far along the switch-over a status is: paused at it, past it, ended.
_STAGE = {'pre-switchover': 1, 'device': 2, 'postcopy-active': 2,
          'postcopy-paused': 2, 'postcopy-recover': 2, 'completed': 3,
          'failed': 3, 'cancelled': 3}


def wait_event(q, names, deadline):
    """One of the events, if it came before deadline (else None)."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    try:
        return q.wait_event(names, timeout=left)
    except qmp.QMPError as e:
        if e.kwargs.get('operation') != 'wait_event':
            raise
        return None


def status_of(event):
    """The migration status a MIGRATION event announces (else None)."""
    if event is None or event['event'] != 'MIGRATION':
        return None
    return (event.get('data') or {}).get('status')


def latest(status, events):
    """The furthest of ``status`` and the MIGRATION events received, which
    are taken. Events that came with or before an answer are not always
    older than its status: a switch-over announced while QEMU answered
    (the watcher continues within a millisecond) came first, and a hold
    that dropped it would wait out its bound for news already here. A
    migration only moves forward, so the furthest status is the newest."""
    for event in [ev for ev in events if ev['event'] == 'MIGRATION']:
        events.remove(event)
        news = status_of(event)
        if _STAGE.get(news, 0) > _STAGE.get(status, 0):
            status = news
    return status


def hold(src_q, dst, watched, bound=HOLD_BOUND, status=None):
    """Until the guest runs on dst (a process.Domain; its QEMU is not
    looked for when this process cannot see it), or bound seconds passed.
    watched(): whether the host side continues the guest from
    pre-switchover (asked there only). ``status``: the source's, as QEMU
    announced it last on src_q (None: asked). Returns why it ended, for
    the caller's log; BEFORE for a source not there yet."""
    deadline = time.monotonic() + bound
    if status is None:
        status = src_q.execute('query-migrate').get('status')
    status = latest(status, src_q.events)
    while status in PAUSED:
        if status == 'pre-switchover' and not watched():
            return 'the switch-over watcher is not alive'
        news = status_of(wait_event(src_q, 'MIGRATION', deadline))
        if news is None:
            return 'timeout: the source still %s after %ss' % (status, bound)
        status = news
    if status != 'completed':
        return BEFORE
    if dst is None or dst.pid() is None:
        return 'the destination is not seen from here'
    if _arrival_recorded(dst, min(deadline, time.monotonic() + ARRIVAL_BOUND)):
        return RECORDED
    return _hold_destination(dst, deadline, bound)


def _arrival_recorded(dst, deadline):
    """Whether dst's arrival watcher recorded the incoming migration's end
    before deadline (False at once where none was started)."""
    return os.path.exists(dst.path(arrival.STATE)) and \
        arrival.recorded(dst.dir, deadline, ARRIVAL_LOOK) is not None


def _hold_destination(dst, deadline, bound):
    """Asked on dst's monitor: where no arrival watcher tells. A guest that
    arrived and does not run by itself (held, or paused on its source:
    destination.run_arrived) is run here, as its silent watcher would."""
    with dst.qmp(timeout=bound) as q:
        while True:
            run_state = q.execute('query-status')['status']
            if run_state == 'running':
                return RUNS
            incoming = q.execute('query-migrate').get('status')
            if run_state == 'paused' and incoming == 'completed' and \
                    destination.run_arrived(q, incoming):
                continue
            if run_state != 'inmigrate':
                return 'the destination is not loading (%s)' % run_state
            if incoming in ('failed', 'cancelled'):
                return 'the destination is not loading (migration %s)' % incoming
            if not wait_event(q, ('RESUME', 'MIGRATION'), deadline):
                return 'timeout: the destination still loading after %ss' % bound
