"""The disk mirror of a live migration between hosts that do not share
storage: the destination exports its empty disk over NBD, the source's
``drive-mirror`` fills it while the memory is copied, and both are dropped
when the migration ends either way."""

import time

from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator import exception


def export_disk(q, dst):
    """The destination's disk as a writable NBD export on its socket
    (idempotent: a re-run finds it there)."""
    try:
        q.execute('nbd-server-start', addr={
            'type': 'unix', 'data': {'path': dst.path('nbd.sock')}})
    except qmp.QMPError as e:
        if 'already running' not in str(e):
            raise
    try:
        q.execute('block-export-add', type='nbd', id='mirror', name='disk0',
                  **{'node-name': 'disk0', 'writable': True})
    except qmp.QMPError as e:
        if 'already' not in str(e):
            raise


def start(q, job, dst):
    """Mirror the source's disk into the destination's NBD export."""
    q.execute('drive-mirror', **{
        'job-id': job, 'device': 'drive0', 'format': 'raw',
        'target': 'nbd+unix:///disk0?socket=%s' % dst.path('nbd.sock'),
        'sync': 'full', 'mode': 'existing'})


def drop(q, rec, deadline):
    """Cancel the disk mirror, if any (forced: no pivot, the copy is
    not wanted) and wait until QEMU has let go of it."""
    while any(j['device'] == rec['job'] for j in q.execute('query-block-jobs')):
        try:
            q.execute('block-job-cancel', device=rec['job'], force=True)
        except qmp.QMPError:
            pass    # ending already
        if time.monotonic() > deadline:
            raise exception.DriverError(
                operation='block-job-cancel', reason='the disk mirror %s does not '
                'end' % rec['job'])
        time.sleep(0.005)


def stop_nbd(dst):
    if dst.pid() is None:
        return
    try:
        with dst.qmp(timeout=2) as q:
            q.execute('nbd-server-stop')
    except qmp.QMPError:
        pass    # not running, or the destination is exiting
