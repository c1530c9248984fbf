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

Then the whole orchestrator against bare QMP, on one VM moved back and forth
between two hosts sharing storage (``--qemu-moves`` samples of each, in
alternating pairs):

* orchestrated: ``ConductorAPI.move_instance`` + ``wait_task`` of a live
  migration (13 tasks in two TaskFlow engines persisted to SQLite, claims,
  pre-checks, port bindings, cleanup), ``[conductor] poll_interval`` =
  ``--qemu-poll-ms``;
* bare QMP: the same work done by hand: start the destination QEMU with
  ``-incoming defer``, migrate-incoming, migrate, query-migrate until
  completed and the destination running, quit the source.

Printed: medians and the ratio (goal <= 1.1), and where the orchestrated
move spends its time (per phase, from the task record).
Needs qemu-system-x86_64, qemu-img and binutils.
"""

import argparse
import datetime
import os
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
    parser.add_argument('--qemu-moves', type=int, default=6,
                        help='orchestrated moves and bare migrations each (even)')
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


class Orchestrated:
    """A SQLite cloud of two hosts sharing storage and one VM, driven
    through ConductorAPI (the embedded conductor) with the qemu driver."""

    HOSTS = ('host1', 'host2')

    def __init__(self, root, ram_mb, poll):
        from move_orchestrator import cloud as cloud_mod
        from move_orchestrator.conductor import api as api_mod
        from move_orchestrator.conductor import services as services_mod
        from move_orchestrator.conf import CONF
        from move_orchestrator.db import migration
        self.conf = CONF
        self.root = root
        url = 'sqlite:///%s' % os.path.join(root, 'mo.db')
        self._overrides = [
            ('connection', url, 'database'), ('driver', 'qemu', 'compute'),
            ('instances_path', os.path.join(root, 'q'), 'qemu'),
            ('storage_groups', {h: 'g' for h in self.HOSTS}, 'qemu'),
            ('max_bandwidth', 0, 'qemu'), ('completion_timeout_per_gib', 0, 'qemu'),
            ('guest_fill_ratio', (ram_mb - 16) / ram_mb, 'qemu'),
            ('poll_interval', poll, 'conductor')]
        for name, value, group in self._overrides:
            CONF.set_override(name, value, group)
        migration.upgrade(url)
        self.services = services_mod.Services(CONF)
        self.services.upgrade_persistence()
        self.driver = self.services.driver
        self.api = api_mod.ConductorAPI(self.services)
        self.api.conductor.start()
        inventory = self.services.inventory
        inventory.create_flavor('bench', 1, ram_mb, 1)
        for host in self.HOSTS:
            inventory.create_host(host, vcpus=4, ram_mb=4096, disk_gb=10,
                                  cpu_model='qemu64')
        self.vm = cloud_mod.boot_instance(self.services, 'vm', 'host1', 'bench',
                                          image='bench')
        self.spec = dict(self.driver._domain(self.vm['uuid'], 'host1')
                         .read_definition()['spec'])
        _wait_filled(self.driver, self.spec, 'host1')

    def host(self):
        return self.services.inventory.get_instance('vm')['host']

    def other(self, host):
        return self.HOSTS[1 - self.HOSTS.index(host)]

    def orchestrated(self):
        dest = self.other(self.host())
        t0 = time.perf_counter()
        doc = self.api.move_instance(None, 'vm', destination=dest)
        doc = self.api.wait_task(None, doc['id'])
        elapsed = time.perf_counter() - t0
        if doc['state'] != 'completed':
            raise RuntimeError('move %s: %s' % (doc['state'], doc['reason']))
        phases = {}
        for sub in doc['subtasks']:
            took = (datetime.datetime.fromisoformat(sub['finished'])
                    - datetime.datetime.fromisoformat(sub['started'])).total_seconds()
            phases[sub['phase']] = phases.get(sub['phase'], 0) + took
        return {'migration': elapsed, 'phases': phases}

    def bare(self):
        """The same live migration by hand; the inventory is put right after."""
        source = self.host()
        dest = self.other(source)
        u = self.spec['uuid']
        src, dst = self.driver._domain(u, source), self.driver._domain(u, dest)
        t0 = time.perf_counter()
        dst.write_definition({'spec': self.spec})
        self.driver._start(dst, incoming=True)
        uri = 'unix:' + dst.path('migrate.sock')
        with src.qmp() as qs, dst.qmp() as qd:
            qd.execute('migrate-incoming', uri=uri)
            # A guest that came in through the driver keeps the capabilities
            # it was given then: plain pre-copy here.
            qs.execute('migrate-set-capabilities', capabilities=[
                {'capability': c, 'state': False}
                for c in ('postcopy-ram', 'pause-before-switchover')])
            qs.execute('migrate-set-parameters', **{'max-bandwidth': 1 << 40,
                                                    'downtime-limit': 300})
            qs.execute('migrate', uri=uri)
            while True:
                info = qs.execute('query-migrate')
                status = info['status']
                if status == 'completed' and \
                        qd.execute('query-status')['status'] == 'running':
                    break
                if status in ('failed', 'cancelled'):
                    raise RuntimeError('bare migration %s: %s'
                                       % (status, info.get('error-desc')))
                time.sleep(self.conf.conductor.poll_interval)
            info = qs.execute('query-migrate')
        src.stop()
        elapsed = time.perf_counter() - t0
        # Not measured: make the orchestrator's world agree again.
        self.driver.destroy(u, source)
        self.driver.activate_binding(u, source)
        self.driver.bind_ports(u, dest)
        self.driver.activate_binding(u, dest)
        self.driver.unbind_ports(u, source)
        inventory = self.services.inventory
        inventory.update_instance(u, host=dest, flavor='bench')
        self._move_allocation(u, source, dest)
        return {'migration': elapsed, 'downtime': info.get('downtime'),
                'sent': info.get('ram', {}).get('transferred', 0) / (1 << 20)}

    def _move_allocation(self, u, source, dest):
        inventory = self.services.inventory
        flavor = inventory.get_flavor('bench')
        resources = {r: flavor[r] for r in ('vcpus', 'ram_mb', 'disk_gb')}
        inventory.claim('bare', dest, resources, self.services.allocation_ratios)
        inventory.transfer_allocation('bare', u, dest)

    def close(self):
        try:
            problems = self.api.audit(None)
            if problems:
                raise RuntimeError('audit: %s' % problems)
        finally:
            self.api.shutdown(wait=False)
            self.driver.destroy_all()
            for name, _value, group in self._overrides:
                self.conf.clear_override(name, group)


def _wait_filled(driver, spec, host):
    log = driver._domain(spec['uuid'], host).path('serial.log')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log) as f:
            if f.read().count('\n') >= 3:
                return
        time.sleep(0.01)
    raise RuntimeError('the guest did not start')


def run_orchestrated(args, root):
    """Whole orchestrated moves vs bare QMP migrations of the same VM."""
    poll = args.qemu_poll_ms / 1000.0
    bench = Orchestrated(root, args.qemu_ram_mb, poll)
    results = {'orchestrated': [], 'bare': []}
    try:
        for i in range(args.qemu_warmup + args.qemu_moves // 2):
            # Pairs, there and back, so load hits both kinds alike.
            pair = {'orchestrated': [bench.orchestrated(), bench.orchestrated()],
                    'bare': [bench.bare(), bench.bare()]}
            if i >= args.qemu_warmup:
                for kind, samples in pair.items():
                    results[kind].extend(samples)
    finally:
        bench.close()

    def med(kind, key='migration'):
        return statistics.median(r[key] for r in results[kind])

    n = len(results['bare'])
    print('whole live migration of a %d MiB guest through the orchestrator vs bare QMP, '
          'shared storage, median of %d, poll every %g ms:'
          % (args.qemu_ram_mb, n, args.qemu_poll_ms))
    print('  bare QMP      %7.1f ms   downtime %4.0f ms   sent %.0f MiB   (start the '
          'destination, migrate, quit the source)'
          % (med('bare') * 1000, med('bare', 'downtime'), med('bare', 'sent')))
    print('  orchestrated  %7.1f ms   (ConductorAPI.move_instance + wait_task: '
          'completed)' % (med('orchestrated') * 1000))
    phases = ' '.join('%s %.1f' % (p, statistics.median(
        r['phases'].get(p, 0) for r in results['orchestrated']) * 1000)
        for p in ('claim', 'pre-check', 'transfer', 'switch-over', 'cleanup'))
    print('    per phase (ms, tasks only): %s' % phases)
    print('  orchestrated / bare: %.2fx (goal <= 1.1)' % (med('orchestrated') / med('bare')))
    for kind in ('bare', 'orchestrated'):
        print('  %-12s samples (ms): %s' % (kind, ' '.join(
            '%.0f' % (r['migration'] * 1000) for r in results[kind])))
    return results


def run(argv=None):
    args = _parse(argv)
    if shutil.which('qemu-system-x86_64') is None:
        print('skipped: qemu-system-x86_64 not found (%s)' % process.INSTALL_HINT)
        return
    root = tempfile.mkdtemp(prefix='moqo', dir='/tmp')
    try:
        whole = run_orchestrated(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
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
    results['whole'] = whole
    return results


if __name__ == '__main__':
    run(None)
