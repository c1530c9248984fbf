"""A guest's live migration: bare libvirt against our whole orchestrated
move, with the libvirt driver through agents and with the qemu driver.

Why: issue 14's goals. libvirt's own migration is slow enough that the
orchestrator's durable, revertible move around it should cost at most 10%
more, and the same move with our own QMP driver no more than libvirt's bare
migration.

The same guest (``--libvirt-ram-mb``, default 256, all but 16 MiB of it
filled, as bench_qemu's), two hosts sharing storage so only memory moves,
in one run:

* (a) bare: ``migrateToURI3`` between two libvirtd daemons (started as the
  functional tests start them: needs root and libvirt, ``.ci/run
  install_libvirt``) with the driver's flags and destination XML, made
  before the clock starts;
* (b) our whole move of that same domain: ``move_instance`` + ``wait_task``
  on an embedded conductor (libvirt_worker.py, SQLite) whose compute driver
  is ``rpc``, to two ``move-orchestrator-compute`` agents on RabbitMQ (a
  private virtual host), each serving the libvirt driver on its own daemon
  alone, configured as on a real host (connection_uri, inbound_uri);
* (c) our whole move with the qemu driver: bench_qemu's orchestrated
  sample (embedded conductor, the qemu driver, its own VM of the same size).

The kinds take turns, each there and back (``--libvirt-moves`` samples of
each after a warm-up round), memory compacted before each sample (as
bench_qemu does). (a) and (b) move the same domain and swap places every
round, so neither always migrates it right after the other's two
migrations (with (a) always first, libvirt's own job of whichever went
second was the longer in two runs; taking turns, (b)'s was still 0.2 s
longer in one: the order is not all of it). Printed: the medians, each ratio beside its
goal, and libvirt's own figures of (a)'s and (b)'s migrations (the destination's
completed job: time elapsed, downtime), which tell a gap inside libvirt's
migration from our steps' cost around it: the line "beyond libvirt's job"
splits each sample into libvirt's job and what is spent outside it, and
(b)'s outside less (a)'s is our fixed cost; the line "(b)'s own part"
splits that into what no step holds, TransferMemory's time beyond
libvirt's, and the other steps.
``--libvirt-downtime-ms N`` gives all three kinds the same downtime
limit (at the 300 ms default QEMU often stops the guest in the middle of
its first pass, and the downtime is what that pass had left).
``--libvirt-poll-ms N`` sets (b)'s ``[conductor] poll_interval`` (each
look at the running migration is a round trip to the source's agent).
Also printed: the CPU each party used per sample (process_cpu.py): what
our conductor, agents and RabbitMQ burn competes with QEMU for the cores.
"""

import argparse
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from oslo_config import cfg

from benchmarks import bench_qemu
from benchmarks import libvirt_arrivals
from benchmarks import libvirt_report
from benchmarks import process_cpu
from benchmarks import qemu_cpu
from move_orchestrator import conf as mo_conf

MIB = 1 << 20
HOSTS = ('host1', 'host2')
GOALS = {'libvirt': 1.1, 'qemu': 1.0}


def _options(argv):
    parser = argparse.ArgumentParser(prog='bench_libvirt', add_help=False)
    parser.add_argument('--libvirt-ram-mb', type=int, default=256)
    parser.add_argument('--libvirt-downtime-ms', type=int, default=0,
                        help='the downtime limit of all three kinds ([libvirt] '
                             'and [qemu] downtime_limit_ms; bare: set as the '
                             'driver sets it); 0: their defaults (300 ms)')
    parser.add_argument('--libvirt-poll-ms', type=float, default=0,
                        help="(b)'s [conductor] poll_interval; 0: its default")
    parser.add_argument('--libvirt-moves', type=int, default=10,
                        help='migrations of each kind (rounded up to a '
                             'multiple of 4: (a) and (b) take turns going first)')
    return parser.parse_known_args(argv)[0]


def _fill_ratio(ram_mb):
    return (ram_mb - 16) / ram_mb       # bench_qemu's guest


def _driver(hosts, root, ram_mb):
    from move_orchestrator.drivers.compute import libvirt
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator-bench', default_config_files=[])
    for name, value in {'instances_path': root, 'guest_fill_ratio': _fill_ratio(ram_mb),
                        'host_uris': {h.name: h.uri for h in hosts},
                        'migration_addresses': {h.name: '127.0.0.1' for h in hosts},
                        'storage_groups': {h.name: 'g' for h in hosts}}.items():
        conf.set_override(name, value, 'libvirt')
    return libvirt.LibvirtDriver(conf)


def _limit_downtime(dom, limit_ms):
    """The downtime limit once the job runs, as the driver sets it."""
    from move_orchestrator.drivers.compute.libvirt import states
    deadline = time.monotonic() + 10
    while not states.job_active(dom) and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        dom.migrateSetMaxDowntime(limit_ms, 0)
    except states.libvirt.libvirtError as e:
        # The job ended between two looks (the domain left): that sample
        # ran at libvirt's default limit, as the driver's would.
        print('(a)\'s downtime limit not set: %s' % e, file=sys.stderr)


def _bare(driver, uuid, downtime_ms=0):
    """migrateToURI3 as the driver calls it (same flags, same destination
    XML, the same downtime limit), without the driver; the XML is made
    before the clock starts."""
    from move_orchestrator.drivers.compute.libvirt import domain_xml
    from move_orchestrator.drivers.compute.libvirt import migration
    lv = migration.states.libvirt
    source = [h for h in HOSTS if driver._dom(uuid, h) is not None][0]
    dest = HOSTS[1 - HOSTS.index(source)]
    dom = driver.conns.get(source).lookupByUUIDString(uuid)
    xml = domain_xml.retarget(dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE),
                              driver.disk_path(uuid, dest),
                              driver.serial_path(uuid, dest),
                              {'id': 'bare', 'source': source, 'dest': dest,
                               'started_at': time.time()})
    os.makedirs(os.path.dirname(driver.serial_path(uuid, dest)), exist_ok=True)
    params = {lv.VIR_MIGRATE_PARAM_URI: 'tcp://127.0.0.1',
              lv.VIR_MIGRATE_PARAM_DEST_XML: xml,
              lv.VIR_MIGRATE_PARAM_PERSIST_XML: xml}
    limiter = None
    if downtime_ms:
        limiter = threading.Thread(target=_limit_downtime, args=(
            driver.conns.get(source).lookupByUUIDString(uuid), downtime_ms))
    started_at = time.time()
    started = time.perf_counter()
    if limiter is not None:
        limiter.start()
    dom.migrateToURI3(driver.conns.uri(dest), params, migration.flags(False, False))
    elapsed = time.perf_counter() - started
    ended_at = time.time()
    if limiter is not None:
        limiter.join()
    return {'whole': elapsed, 'started_at': started_at, 'ended_at': ended_at}


def _job(driver, uuid):
    """libvirt's own figures of the migration that just ended, from the
    destination's completed job (kept for the driver's later reads): the
    part of a gap inside libvirt's migration, apart from our steps."""
    from move_orchestrator.drivers.compute import base
    from move_orchestrator.drivers.compute.libvirt import states
    lv = states.libvirt
    for host in HOSTS:
        dom = driver._dom(uuid, host)
        if dom is not None and driver._power(dom) == base.RUNNING:
            stats = dom.jobStats(lv.VIR_DOMAIN_JOB_STATS_COMPLETED
                                 | lv.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
            if 'time_elapsed' in stats:
                return {'elapsed': stats['time_elapsed'] / 1000.0,
                        'downtime': stats.get('downtime', 0) / 1000.0,
                        'setup': stats.get('setup_time', 0) / 1000.0,
                        'iterations': stats.get('memory_iteration', 0),
                        'sent_mb': stats.get('memory_processed', 0) / MIB,
                        'mb_s': stats.get('memory_bps', 0) / MIB}
    return None


class Worker:
    """libvirt_worker.py: the conductor of the orchestrated libvirt moves."""

    def __init__(self, url, transport_url, ram_mb, log_path, poll_ms=0):
        self.log_path = log_path
        with open(log_path, 'w') as log:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'benchmarks.libvirt_worker', url, transport_url,
                 str(ram_mb), str(poll_ms)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True)
        self.uuid = self._read()['uuid']

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            # The log goes with the bench's work directory: say its end.
            with open(self.log_path) as log:
                tail = log.readlines()[-15:]
            raise RuntimeError('libvirt_worker ended; the end of its log:\n%s'
                               % ''.join(tail))
        return json.loads(line)

    def move(self):
        self.proc.stdin.write('move\n')
        self.proc.stdin.flush()
        sample = self._read()
        if sample['state'] != 'completed':
            raise RuntimeError('move %s: %s' % (sample['state'], sample['reason']))
        return sample

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write('quit\n')
            self.proc.stdin.flush()
            audit = self._read()['audit']
            self.proc.wait(30)
            if audit:
                raise RuntimeError('audit: %s' % audit)


def _wait_filled(driver, uuid, host):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with open(driver.serial_path(uuid, host)) as f:
                if f.read().count('\n') >= 3:
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError('the guest did not start')


def run(argv=None):
    args = _options(argv if argv is not None else sys.argv[1:])
    from move_orchestrator.drivers.compute.libvirt import daemons
    lacking = daemons.missing()
    if lacking:
        print('skipped: %s not found (%s)' % (', '.join(lacking), daemons.INSTALL))
        return
    from move_orchestrator.db import migration
    from tests.functional.libvirt import agents
    from tests.functional.rpc import harness as rpc_harness
    pairs = 2 * ((args.libvirt_moves + 3) // 4)
    root = tempfile.mkdtemp(prefix='mob', dir='/tmp')
    work = tempfile.mkdtemp(prefix='mobw', dir='/tmp')
    # Port ranges of their own: the functional tests may run daemons too.
    hosts = daemons.start_hosts(root, HOSTS, first_index=4)
    driver = worker = qemu = arrivals = None
    started = []
    results = {'bare': [], 'libvirt': [], 'qemu': []}
    try:
        inst = os.path.join(root, 'inst')
        driver = _driver(hosts, inst, args.libvirt_ram_mb)
        arrivals = libvirt_arrivals.Arrivals([h.uri for h in hosts])
        url = 'sqlite:///%s' % os.path.join(work, 'lv.db')
        migration.upgrade(url)
        with rpc_harness.private_vhost() as transport_url:
            try:
                groups = {h: 'g' for h in HOSTS}
                for host in HOSTS:
                    started.append(agents.LibvirtAgent(
                        pathlib.Path(work), host, transport_url, url, hosts, inst,
                        storage_groups=groups, reach_peers=False,
                        guest_fill_ratio=_fill_ratio(args.libvirt_ram_mb),
                        downtime_limit_ms=args.libvirt_downtime_ms).start())
                worker = Worker(url, transport_url, args.libvirt_ram_mb,
                                os.path.join(work, 'worker.log'), args.libvirt_poll_ms)
                _wait_filled(driver, worker.uuid, 'host1')
                os.mkdir(os.path.join(work, 'q'))
                qemu = bench_qemu.Cloud(os.path.join(work, 'q'), args.libvirt_ram_mb,
                                        None, downtime_ms=args.libvirt_downtime_ms or None)
                kinds = (('bare', lambda: _bare(driver, worker.uuid,
                                                args.libvirt_downtime_ms)),
                         ('libvirt', worker.move))
                # qemu (c)'s conductor is this process: bench_qemu's.
                parties = {worker.proc.pid: 'conductor (b)', os.getpid(): 'conductor (c)'}
                parties.update((agent.proc.pid, 'agents (b)') for agent in started)
                for i in range(1 + pairs):      # a warm-up pair first
                    order = kinds if i % 2 else kinds[::-1]
                    for kind, sample in order + (('qemu', qemu.orchestrated),):
                        for _there_and_back in range(2):
                            qemu_cpu.compact_memory()
                            before = process_cpu.snapshot(parties)
                            value = sample()
                            value['cpu'] = process_cpu.delta(
                                before, process_cpu.snapshot(parties))
                            if kind != 'qemu':
                                value['job'] = _job(driver, worker.uuid)
                                value['resumed_at'] = arrivals.since(value['started_at'])
                            if i:
                                results[kind].append(value)
                libvirt_report.report(args, results, 2 * pairs, GOALS)
            finally:
                # The worker's close raises on an unclean audit: the rest
                # is closed all the same (agents and QEMU outlived it).
                with contextlib.ExitStack() as stack:
                    for agent in started:
                        stack.callback(agent.stop)
                    for closing in (qemu, worker):
                        if closing is not None:
                            stack.callback(closing.close)
    finally:
        if arrivals is not None:
            arrivals.close()
        if driver is not None:
            driver.destroy_all()
            driver.close()
        for problem in daemons.stop_hosts(root, hosts):
            print('left behind: %s' % problem)
        shutil.rmtree(work, ignore_errors=True)
    return results
