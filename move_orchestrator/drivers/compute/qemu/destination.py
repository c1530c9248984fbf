"""The destination's side of an arrival, for whoever runs the guest there:
the arrival watcher (arrival.py), the source's switch-over watcher where
the destination did not accept the migration itself (switchover.py), the
driver's confirmation and completion (incoming.py, completion.py) and its
hold (paused.py).

A bare interpreter imports it (``-I -S``, the standard library only), as
it does switchover.py: it imports nothing, and takes either monitor
client (watcher_io.Monitor, qmp.QMPClient).
"""


def end_export(qd):
    """Stop the NBD export a mirrored disk was written through, if there is
    one; True if there was. Either monitor client will do. The arrival
    watcher and the destination's confirmation may both get here: a stop
    refused because the other one stopped it first is done."""
    if not qd.execute('query-block-exports'):
        return False
    try:
        qd.execute('nbd-server-stop')
    except Exception:   # either client's error: judged by what QEMU has left
        if qd.execute('query-block-exports'):
            raise
    return True


def run_arrived(qd, status):
    """Run the guest on the destination once it runs there (``status``, the
    destination's migration status: completed, or post-copy's start) where
    it does not by itself: paused on its source so that its copy could
    finish (force-complete without post-copy), or held (``-S``) because its
    disk was mirrored into an export here. The export ends first: QEMU
    gives the guest's disk back its exclusive write as the guest starts,
    and cannot while the export writes into it. True if told to run."""
    if status == 'postcopy-active':
        # The guest runs here from now on; the source ended the mirror at
        # its switch-over. Only a held one (an export) is told to.
        if not end_export(qd):
            return False
    elif status == 'completed' and qd.execute('query-status')['status'] == 'paused':
        end_export(qd)
    else:
        return False
    qd.execute('cont')
    return True
