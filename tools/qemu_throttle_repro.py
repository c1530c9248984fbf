"""Does this QEMU lose guest memory when a throttled live migration ends?

With multi-threaded TCG, QEMU 7.2 restarted the guest on the destination
after some live migrations whose vCPUs were throttled (auto-converge): the
destination got a stale page of guest memory, and the guest crashed within
milliseconds of its resume. This loop migrates a guest back and forth with
bare QMP commands (no driver migration code, no orchestrator), the
throttle held off and then raised mid-copy as the qemu driver's stall
policy does, and checks that the guest's serial counter goes on where it
stopped. It is what to run against a newer QEMU before ``[qemu]
tcg_threads = multi`` is trusted again, and what to send upstream.

    .tox/bench/bin/python tools/qemu_throttle_repro.py [N] [single|multi]
        [plain|held]

``held``: paused before the switch-over and continued at once, as the
driver's migrations are. Prints a line per migration and the count of
guests that did not go on; exits 1 if any did not.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import bench_qemu  # noqa: E402
from tests.functional.qemu import guests  # noqa: E402

# The stall test's paced guest: it dirties more than the copy sends until
# its vCPU is throttled.
PACED = (('guest_dirty', True, 'qemu'), ('guest_dirty_pages', 16, 'qemu'),
         ('guest_fill_ratio', 0.125, 'qemu'))
BANDWIDTH = 8 << 20
STILL_S = 5.0           # the copy stands still this long before the throttle
WATCH_S = 1.5           # the crash came within milliseconds of the resume
ENDS = ('completed', 'failed', 'cancelled')


def _counters(dom):
    try:
        with open(dom.path('serial.log')) as f:
            return guests.parse_counters(f.read())
    except FileNotFoundError:
        return []


def _migrate(qs, port, held):
    qs.execute('migrate-set-capabilities', capabilities=[
        {'capability': 'postcopy-ram', 'state': False},
        {'capability': 'auto-converge', 'state': True},
        {'capability': 'pause-before-switchover', 'state': held},
        {'capability': 'events', 'state': True}])
    # The throttle held off, as the driver starts every migration ...
    qs.execute('migrate-set-parameters', **{
        'max-bandwidth': BANDWIDTH, 'downtime-limit': 20,
        'cpu-throttle-initial': 1, 'max-cpu-throttle': 1,
        'throttle-trigger-threshold': 100})
    qs.execute('migrate', uri='tcp:127.0.0.1:%s' % port)
    time.sleep(STILL_S)
    # ... and raised once the copy stands still, as its stall policy does.
    qs.execute('migrate-set-parameters', **{
        'cpu-throttle-initial': 80, 'cpu-throttle-increment': 10,
        'max-cpu-throttle': 99, 'throttle-trigger-threshold': 50})
    ev = qs.wait_event('MIGRATION', timeout=120, match=lambda e: e['data'][
        'status'] in ENDS + (('pre-switchover',) if held else ()))
    if ev['data']['status'] == 'pre-switchover':
        qs.execute('migrate-continue', state='pre-switchover')
        ev = qs.wait_event('MIGRATION', timeout=60,
                           match=lambda e: e['data']['status'] in ENDS)
    return ev['data']['status']


def one(cloud, held):
    """One migration; (went on, last count on the source, first three on
    the destination)."""
    source, dest = cloud.hosts()
    src, dst = cloud.domain(source), cloud.domain(dest)
    with open(src.path('serial.log')) as tail:
        dst.write_definition({'spec': cloud.spec})
        cloud.driver._start(dst, incoming=True)
        with src.qmp() as qs, dst.qmp() as qd:
            qd.execute('migrate-incoming', uri='tcp:127.0.0.1:0')
            port = qd.execute('query-migrate')['socket-address'][0]['port']
            status = _migrate(qs, port, held)
            if status != 'completed':
                raise RuntimeError('the migration %s' % status)
            qd.wait_event('RESUME', timeout=60)
        time.sleep(WATCH_S)
        last = guests.parse_counters(tail.read())[-1]
    on_dest = _counters(dst)
    # A guest that crashed on the destination starts counting from 1.
    went_on = bool(on_dest) and last < on_dest[0] <= last + 2 and \
        on_dest == list(range(on_dest[0], on_dest[0] + len(on_dest)))
    src.stop()
    cloud.put_right(source, dest)
    return went_on, last, on_dest[:3]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', type=int, nargs='?', default=40)
    parser.add_argument('threads', choices=('single', 'multi'), nargs='?',
                        default='multi')
    parser.add_argument('mode', choices=('plain', 'held'), nargs='?',
                        default='plain')
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix='moqr', dir='/tmp')
    cloud = bench_qemu.Cloud(root, 64, None, downtime_ms=20,
                             tcg_threads=args.threads, overrides=PACED)
    lost = done = 0
    try:
        for done in range(1, args.runs + 1):
            went_on, last, first = one(cloud, args.mode == 'held')
            lost += not went_on
            print('%3d %s source ended at %d, destination began %s' % (
                done, 'ok  ' if went_on else 'LOST', last, first), flush=True)
    finally:
        print('%s TCG, %s: %d of %d guests did not go on' % (
            args.threads, args.mode, lost, done), flush=True)
        cloud.close()
        shutil.rmtree(root, ignore_errors=True)
    return 1 if lost else 0


if __name__ == '__main__':
    sys.exit(main())
