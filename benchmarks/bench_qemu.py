"""Live migration of a 256 MiB QEMU guest: driver API vs bare QMP.

Why: the driver adds work to a migration (a QMP connection per call, a
record file, the pause before the switch-over, polling both ends); this
measures what that costs against the least a QMP client can do.

Each sample boots a fresh guest that fills most of its RAM (real pages to
move), on two hosts sharing storage (memory only, no disk mirror), then:

* driver: prepare_incoming, start_migration, poll_migration every
  ``--qemu-poll-ms`` until pre-switchover, complete_migration;
* bare QMP: the destination is started the same way, then one QMP session
  per end: migrate-incoming, migrate (max-bandwidth unlimited), query-migrate
  until completed and query-status running on the destination.

Printed: medians over ``--qemu-runs`` samples of the migration time (from
the start of the migration to the destination running), and for the driver
also prepare_incoming and complete_migration; QEMU's reported downtime.
Needs qemu-system-x86_64, qemu-img and binutils.
"""

import argparse
import shutil
import statistics
import tempfile
import time
import uuid

from oslo_config import cfg

from move_orchestrator import conf as mo_conf
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import qemu
from move_orchestrator.drivers.compute.qemu import process


def _parse(argv):
    parser = argparse.ArgumentParser(prog='bench_qemu', add_help=False)
    parser.add_argument('--qemu-runs', type=int, default=3)
    parser.add_argument('--qemu-ram-mb', type=int, default=256)
    parser.add_argument('--qemu-poll-ms', type=float, default=5.0)
    parser.add_argument('--qemu-warmup', type=int, default=1,
                        help='samples of each kind run first and not counted')
    args, _rest = parser.parse_known_args(argv or [])
    return args


def _driver(root):
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator-bench', default_config_files=[])
    for name, value in dict(instances_path=root, storage_groups={'a': 'g', 'b': 'g'},
                            max_bandwidth=0, completion_timeout_per_gib=0).items():
        conf.set_override(name, value, 'qemu')
    return qemu.QemuDriver(conf)


def _boot(driver, ram_mb):
    spec = {'uuid': str(uuid.uuid4()), 'name': 'bench', 'vcpus': 1, 'ram_mb': ram_mb,
            'disk_gb': 1, 'image': 'bench', 'fill_mb': ram_mb - 16}
    driver.create_disk(spec, 'a')
    driver.spawn(spec, 'a')
    # The guest prints once its RAM is filled: wait for that.
    log = driver._domain(spec['uuid'], 'a').path('serial.log')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log) as f:
            if f.read().count('\n') >= 3:
                return spec
        time.sleep(0.01)
    raise RuntimeError('the guest did not start')


def _stats(driver, spec):
    """QEMU's downtime (ms) and MiB sent by the last migration, from the source."""
    with driver._domain(spec['uuid'], 'a').qmp() as q:
        info = q.execute('query-migrate')
    return {'downtime': info.get('downtime'),
            'sent': info.get('ram', {}).get('transferred', 0) / (1 << 20)}


def _via_driver(driver, spec, poll):
    u = spec['uuid']
    t0 = time.perf_counter()
    driver.prepare_incoming(spec, 'b')
    t1 = time.perf_counter()
    driver.start_migration(u, 'a', 'b')
    while driver.poll_migration(u)['status'] != base.MIGRATION_READY:
        time.sleep(poll)
    t2 = time.perf_counter()
    driver.complete_migration(u)
    t3 = time.perf_counter()
    return dict(_stats(driver, spec), prepare=t1 - t0, migration=t3 - t1, complete=t3 - t2)


def _bare(driver, spec, poll):
    u = spec['uuid']
    src, dst = driver._domain(u, 'a'), driver._domain(u, 'b')
    dst.write_definition({'spec': spec})
    driver._start(dst, incoming=True)
    uri = 'unix:' + dst.path('migrate.sock')
    t0 = time.perf_counter()
    with src.qmp() as qs, dst.qmp() as qd:
        qd.execute('migrate-incoming', uri=uri)
        qs.execute('migrate-set-parameters', **{'max-bandwidth': 1 << 40,
                                                'downtime-limit': 300})
        qs.execute('migrate', uri=uri)
        while True:
            status = qs.execute('query-migrate')['status']
            if status == 'completed' and qd.execute('query-status')['status'] == 'running':
                break
            if status in ('failed', 'cancelled'):
                raise RuntimeError('bare migration %s' % status)
            time.sleep(poll)
    return dict(_stats(driver, spec), migration=time.perf_counter() - t0)


def _sample(root, ram_mb, poll, bare):
    driver = _driver(root)
    spec = _boot(driver, ram_mb)
    try:
        return (_bare if bare else _via_driver)(driver, spec, poll)
    finally:
        driver.destroy_all()


def run(argv=None):
    args = _parse(argv)
    if shutil.which('qemu-system-x86_64') is None:
        print('skipped: qemu-system-x86_64 not found (%s)' % process.INSTALL_HINT)
        return
    root = tempfile.mkdtemp(prefix='moqb', dir='/tmp')
    poll = args.qemu_poll_ms / 1000.0
    results = {'driver': [], 'bare': []}
    try:
        for i in range(args.qemu_warmup + args.qemu_runs):
            # Interleaved, so machine noise hits both alike.
            driver = _sample(root, args.qemu_ram_mb, poll, False)
            bare = _sample(root, args.qemu_ram_mb, poll, True)
            if i >= args.qemu_warmup:
                results['driver'].append(driver)
                results['bare'].append(bare)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def med(kind, key):
        return statistics.median(r[key] for r in results[kind])

    print('live migration of a %d MiB guest (%d MiB filled), shared storage, '
          'median of %d runs, poll every %g ms:'
          % (args.qemu_ram_mb, args.qemu_ram_mb - 16, args.qemu_runs, args.qemu_poll_ms))
    print('  bare QMP     migration %7.1f ms   downtime %5.0f ms   sent %.0f MiB'
          % (med('bare', 'migration') * 1000, med('bare', 'downtime'), med('bare', 'sent')))
    print('  driver API   migration %7.1f ms   downtime %5.0f ms   sent %.0f MiB   '
          '(+ prepare_incoming %.1f ms; complete_migration %.1f ms)'
          % (med('driver', 'migration') * 1000, med('driver', 'downtime'),
             med('driver', 'sent'),
             med('driver', 'prepare') * 1000, med('driver', 'complete') * 1000))
    print('  driver / bare: %.2fx (medians)' % (
        med('driver', 'migration') / med('bare', 'migration')))
    for kind in ('bare', 'driver'):
        print('  %-6s samples (ms): %s' % (kind, ' '.join(
            '%.0f' % (r['migration'] * 1000) for r in results[kind])))
    return results


if __name__ == '__main__':
    run(None)
