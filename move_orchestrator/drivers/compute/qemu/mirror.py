"""The disk mirror of a live migration between hosts that do not share
storage: the destination exports its empty disk over NBD, the source's
``drive-mirror`` fills it while the memory is copied, and both are dropped
when the migration ends either way."""

import time

from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator import exception


def export_disk(q, dst, address=None):
    """The destination's disk as a writable NBD export (idempotent: a
    re-run finds it there), on its socket or on ``address`` (a QMP
    SocketAddress: an accepted migration's, reached over the network).
    Looked at first, not told by QEMU's error text."""
    if any(e.get('id') == 'mirror' for e in q.execute('query-block-exports')):
        return
    try:
        q.execute('nbd-server-stop')    # one a crash left without its export
    except qmp.QMPError as e:
        if e.error_class != 'GenericError':     # none was running
            raise
    q.execute('nbd-server-start', addr=address or {
        'type': 'unix', 'data': {'path': dst.path('nbd.sock')}})
    q.execute('block-export-add', type='nbd', id='mirror', name='disk0',
              **{'node-name': 'disk0', 'writable': True})


def target(rec, dst):
    """Where the disk mirror writes: the NBD export the destination gave
    when it accepted the migration, else its socket (through its files)."""
    if rec.get('incoming'):
        return rec['incoming']['nbd']
    return 'nbd+unix:///disk0?socket=%s' % dst.path('nbd.sock')


def start(q, job, target):
    """Mirror the source's disk into the destination's NBD export."""
    q.execute('drive-mirror', **{
        'job-id': job, 'device': 'drive0', 'format': 'raw', 'target': target,
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
