"""The arrival watcher: a destination sees its incoming guest arrive.

accept_migration (incoming.py) starts one per accepted migration, detached
as the source's switch-over watcher is, listening on the destination's
second monitor. When QEMU says the incoming migration completed it runs a
guest that arrived paused (paused on the source so that its copy could
finish: start_migration refuses a source that does not run) or held (its
disk was mirrored into an NBD export here, which it ends first: see
prepare_incoming), and writes ``arrival.json`` beside the domain: the
outcome and the time of QEMU's RESUME, the end of the guest's pause. No
conductor and no source is in that loop; confirm_incoming reads what it
wrote (and asks QEMU).

It runs in a bare interpreter (``-I -S``), as switchover.py does, with
the same standard-library monitor client (watcher_io.py).
"""

import os
import sys
import time

if not __package__:
    # A bare interpreter (run, or imported by a spare, spare.py): the
    # stand-alone monitor client beside this file.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import destination
    import watcher_io
else:
    from move_orchestrator.drivers.compute.qemu import destination
    from move_orchestrator.drivers.compute.qemu import watcher_io

ARRIVAL = 'arrival.json'
STATE = 'incoming.json'


def recorded(domain_dir, deadline, look):
    """What the arrival watcher wrote beside the domain, once it has (None
    if nothing by deadline); looked for every ``look`` seconds."""
    path = os.path.join(domain_dir, ARRIVAL)
    while True:
        found = watcher_io.read_json(path)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(look)


def _resume_time(q):
    for ev in q.events:
        if ev['event'] == 'RESUME':
            return watcher_io.timestamp(ev)
    return None


def watch(sock, domain_dir, timeout, ready):
    """Until the incoming migration ended (or its domain is gone)."""
    state = os.path.join(domain_dir, STATE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            q = watcher_io.Monitor(sock, timeout=10)
            break
        except watcher_io.MonitorError:
            if time.monotonic() > deadline or not os.path.exists(state):
                return 'the destination monitor does not answer'
            time.sleep(0.01)
    ready()
    try:
        early = False
        while os.path.exists(state):
            status = q.execute('query-migrate').get('status')
            if status == 'postcopy-active' and not early:
                early = True
                destination.run_arrived(q, status)
            if status == 'completed':
                destination.run_arrived(q, status)
                resumed = _resume_time(q)
                if resumed is None:     # still to come (wait_event takes it)
                    resumed = watcher_io.timestamp(q.wait_event('RESUME', 1.0) or {}) or None
                arrived = {'status': 'arrived', 'resumed_at': resumed}
                watcher_io.write_json(os.path.join(domain_dir, ARRIVAL), arrived)
                return 'arrived: %s' % arrived
            if status in ('failed', 'cancelled'):
                watcher_io.write_json(os.path.join(domain_dir, ARRIVAL),
                                      {'status': status})
                return 'the incoming migration %s' % status
            q.wait_event('MIGRATION', 0.5)
        return 'the domain is gone'
    finally:
        q.close()


def main(argv):
    sock, domain_dir, timeout = argv
    started = time.time()

    try:
        why = watch(sock, domain_dir, float(timeout), watcher_io.announce)
    except (watcher_io.MonitorError, OSError) as e:
        why = 'stopped: %s' % e
    print('%.3f arrival watcher of %s: %s after %.3fs'
          % (time.time(), domain_dir, why, time.time() - started),
          file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
