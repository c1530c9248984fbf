"""The switch-over watcher: the host side completes a converged migration.

A live migration runs with ``pause-before-switchover``: once the memory copy
converges QEMU pauses the source at ``pre-switchover`` (where the disk mirror
is finished, as libvirt does) and waits for ``migrate-continue``. Waiting for
a conductor's step there would add its latency to the guest's pause, and a
dead conductor would leave the guest paused. So ``start_migration`` starts
(watchers.py) one detached watcher per migration (its own session: it outlives the
conductor or compute agent that started it), which listens on the source's
second monitor and continues the moment QEMU stops there.

The switch-over and a cancel exclude each other through the migration's lock
(a file lock beside its record): whichever takes it first wins, and the
other finds the migration cancelled, or past its switch-over
(MigrationPastSwitchover). Nothing is written while the guest is paused: the
record says ``continued`` once QEMU has been told to continue.

The watcher also writes what QEMU's own events say of the guest's pause
(``<uuid>.switchover.json``): the source's STOP and the destination's RESUME
(the guest's pause), and how long the source waited at ``pre-switchover``.

The watcher runs this file in a bare interpreter (``-I -S``, the standard
library only: the package's imports take seconds on a loaded host), and
start_migration waits until it listens before the memory copy starts; so
this module imports nothing of the project but its neighbours that import
nothing either (watcher_io.py: the watchers' monitor client and files;
destination.py).
"""

import fcntl
import os
import sys
import time

if not __package__:
    # A bare interpreter (run, or imported by a spare, spare.py): the
    # modules beside this file.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import destination
    import watcher_io
else:
    from move_orchestrator.drivers.compute.qemu import destination
    from move_orchestrator.drivers.compute.qemu import watcher_io

FINAL = ('completed', 'failed', 'cancelled')
# QEMU states a migration reaches only after migrate-continue.
PAST_CONTINUE = ('device', 'postcopy-active', 'postcopy-paused',
                 'postcopy-recover', 'completed')
# A source continued from pre-switchover sends the rest while in these.
SENDING = ('pre-switchover', 'device')


class _Lock:
    """A file lock held from ``with`` to its end (closing releases it);
    not contextlib's: see locked. ``open()`` first keeps the file open
    across uses: each ``with`` then only locks and unlocks it."""

    def __init__(self, path):
        self._path = path
        self._file = None
        self._kept = False

    def _open(self):
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        self._file = open(self._path, 'a')

    def open(self):
        self._open()
        self._kept = True

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        if not self._kept:
            self._open()
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            if not self._kept:
                self.close()
            raise

    def __exit__(self, *exc):
        if self._kept:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        else:
            self.close()


def locked(record_path):
    """The migration's lock: a switch-over and a cancel never interleave.

    The watcher's interpreter imports only what the watcher itself runs:
    every module costs its start, which the copy waits for (contextlib was
    a part of its imports' time; starting watchers is watchers.py's)."""
    return _Lock(record_path + '.lock')


def figures_path(record_path):
    return record_path[:-len('.json')] + '.switchover.json'


def _finish_mirror(q, rec, deadline):
    """End a ready mirror without pivoting: the target is a full copy."""
    if rec.get('mirror_done'):
        return
    jobs = {j['device']: j for j in q.execute('query-block-jobs')}
    if not jobs.get(rec['job'], {}).get('ready'):
        raise watcher_io.MonitorError('the disk mirror is not ready at the switch-over')
    q.execute('block-job-cancel', device=rec['job'])
    while any(j['device'] == rec['job'] for j in q.execute('query-block-jobs')):
        if time.monotonic() > deadline:
            raise watcher_io.MonitorError('the disk mirror did not finish')
        time.sleep(0.001)
    rec['mirror_done'] = True


def _continue_told(q, rec):
    """Continue a source QEMU announced at pre-switchover without asking
    first (a round trip of the guest's pause): under the lock no cancel
    came since; QEMU refuses it if the migration left that state."""
    if rec['block'] or not rec['migrate_started']:
        return False
    try:
        q.execute('migrate-continue', state='pre-switchover')
    except watcher_io.MonitorError:
        return False
    return True


def switch_over(q, record_path, migration_id, deadline, told=False,
                lock=None):
    """Continue a migration paused at pre-switchover, under its lock.

    ``q``: a QMP session on the source (the watcher's Monitor, or the
    driver's client). ``told``: QEMU announced pre-switchover (the
    watcher's Monitor only). ``lock``: the migration's lock kept open
    (the watcher's: opening it in the guest's pause took 0.17-0.22 ms,
    traced). True when the migration is (now) past its switch-over, False
    when it is not there yet or no longer this one (cancelled, another
    migration). Idempotent. Its errors are the client's.
    """
    with lock or locked(record_path):
        rec = watcher_io.read_json(record_path)
        if not rec or rec.get('id') != migration_id or \
                rec['status'] in ('failed', 'cancelled'):
            return False
        if rec.get('continued') or rec['status'] == 'completed':
            return True
        if told and _continue_told(q, rec):
            rec['continued'] = True
            watcher_io.write_json(record_path, rec)
            return True
        status = q.execute('query-migrate').get('status')
        if status == 'pre-switchover':
            if rec['block']:
                _finish_mirror(q, rec, deadline)
            # Sent once: under the lock, nobody else continues or cancels.
            q.execute('migrate-continue', state='pre-switchover')
        elif status not in PAST_CONTINUE or not rec['migrate_started']:
            return False
        rec['continued'] = True
        watcher_io.write_json(record_path, rec)
        return True


def _until_sent(q, seen, deadline):
    """Idle until the source continued from ``pre-switchover`` has sent
    what it had left (it announces its next status): the watcher's
    figures, its file and its exit would otherwise take a core from the
    two QEMUs while the guest runs nowhere. Measured, held QMP with this
    watcher continuing: QEMU's ``device`` phase 3.9 ms with the work
    done at once, 2.9 ms deferred, as with no watcher."""
    while True:
        event = q.wait_event('MIGRATION', deadline - time.monotonic())
        if event is None:
            return
        seen.append(event)
        if (event.get('data') or {}).get('status') not in SENDING:
            return


def _drain(q, seen):
    seen.extend(q.events)
    q.events[:] = []


def _figures(q, qd, seen, deadline):
    """The guest's pause from QEMU's events: the source's STOP to the
    destination's RESUME; and the source's wait at pre-switchover."""
    resume = None
    if qd is not None:
        try:
            resume = qd.wait_event('RESUME', max(0.1, deadline - time.monotonic()))
        except watcher_io.MonitorError:
            pass
    q.execute('query-status')      # reads the source's events sent since
    _drain(q, seen)
    at = {}
    for ev in seen:
        key = ev['event']
        if key == 'MIGRATION':
            key = (ev.get('data') or {}).get('status')
        at.setdefault(key, watcher_io.timestamp(ev))
    figures = {}
    if 'STOP' in at:
        # For a destination's RESUME seen elsewhere (arrival.py).
        figures['stopped_at'] = at['STOP']
    if 'STOP' in at and resume is not None:
        figures['guest_pause_ms'] = round((watcher_io.timestamp(resume) - at['STOP']) * 1000, 3)
    if 'pre-switchover' in at and 'device' in at:
        figures['switchover_wait_ms'] = round(
            (at['device'] - at['pre-switchover']) * 1000, 3)
    return figures


def _resume_paused(qd, record_path, deadline):
    """A destination reached from here (it did not accept the migration
    itself: no arrival watcher) whose guest does not run by itself
    (destination.run_arrived): run it as soon as it can, without waiting
    for a conductor (which may be dead)."""
    rec = watcher_io.read_json(record_path) or {}
    if qd is None or not (rec.get('paused') or rec.get('block')):
        return
    try:
        early = False
        while time.monotonic() < deadline:
            status = qd.execute('query-migrate').get('status')
            if status == 'completed':
                destination.run_arrived(qd, status)
                return
            if status == 'postcopy-active' and not early:
                early = True
                destination.run_arrived(qd, status)
            qd.wait_event('MIGRATION', 0.2)
    except watcher_io.MonitorError:
        pass    # the driver's complete_migration resumes it then


def _connect(path, record_path, deadline):
    while True:
        try:
            return watcher_io.Monitor(path, timeout=10)
        except watcher_io.MonitorError:
            if time.monotonic() > deadline or not os.path.exists(record_path):
                return None
            time.sleep(0.01)


def watch(source_sock, dest_sock, record_path, migration_id, timeout, ready):
    """Run until the migration is past its switch-over or has ended;
    ``ready()`` once listening."""
    q = _connect(source_sock, record_path, time.monotonic() + timeout)
    if q is None:
        return 'the source monitor does not answer'
    # The destination's RESUME is the end of the guest's pause; one that
    # accepted the migration is not reached from here (its own arrival
    # watcher sees RESUME, arrival.py).
    qd = (_connect(dest_sock, record_path, time.monotonic() + 1)
          if dest_sock else None)
    seen = []       # the source's events, for the figures
    news = None     # the status QEMU announced last, not yet looked at
    ready()
    # Opened while the copy runs, not in the guest's pause. Nothing
    # removes a migration's lock file, so every opening of it by path is
    # of this one.
    lock = locked(record_path)
    try:
        lock.open()
        while True:
            told = news == 'pre-switchover'
            if told:
                # Straight on, the guest paused: switch_over looks again
                # under the lock, at the record (and continues).
                status = news
            else:
                rec = watcher_io.read_json(record_path)
                if not rec or rec.get('id') != migration_id or \
                        rec['status'] in FINAL or rec.get('continued'):
                    return 'the migration ended, or was switched over'
                status = q.execute('query-migrate').get('status')
            news = None
            if status == 'pre-switchover' or status in PAST_CONTINUE:
                deadline = time.monotonic() + timeout
                if switch_over(q, record_path, migration_id, deadline,
                               told=told, lock=lock):
                    if status == 'pre-switchover':
                        _until_sent(q, seen, deadline)
                    _resume_paused(qd, record_path, deadline)
                    figures = _figures(q, qd, seen, deadline)
                    watcher_io.write_json(figures_path(record_path),
                                          dict(figures, id=migration_id))
                    return 'switched over: %s' % figures
            elif status in FINAL and rec['migrate_started']:
                return 'the migration %s' % status
            # A status change announced while query-migrate was asked is
            # news too: waiting for the next one would leave a guest paused
            # at pre-switchover until the half second is over.
            told = [ev for ev in q.events if ev['event'] == 'MIGRATION']
            _drain(q, seen)
            if told:
                news = (told[-1].get('data') or {}).get('status')
                continue
            # Woken by QEMU's news (a status change), else a look every
            # half second (the record may say it ended).
            event = q.wait_event('MIGRATION', 0.5)
            if event is not None:
                seen.append(event)
                news = (event.get('data') or {}).get('status')
    finally:
        lock.close()
        q.close()
        if qd is not None:
            qd.close()


def log_path(record_path):
    return record_path[:-len('.json')] + '.switchover.log'


def main(argv):
    source_sock, dest_sock, record_path, migration_id, timeout = argv
    started = time.time()

    try:
        why = watch(source_sock, dest_sock, record_path, migration_id or None,
                    float(timeout), watcher_io.announce)
    except (watcher_io.MonitorError, OSError) as e:
        why = 'stopped: %s' % e
    print('%.3f switch-over watcher of %s (%s): %s after %.3fs'
          % (time.time(), record_path, migration_id, why, time.time() - started),
          file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
