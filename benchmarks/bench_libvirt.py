"""A libvirt domain's live migration: bare libvirt against our driver.

Two libvirtd "hosts" started as the functional tests start them (needs root
and libvirt; ``.ci/run``'s install_libvirt), sharing storage so only memory
moves; one guest (``--libvirt-ram-mb``, default 256, its RAM filled)
migrated back and forth, alternately (a) by a bare ``migrateToURI3`` with
the driver's flags and parameters, and (b) by the driver's own calls, as
the move's steps make them (prepare_incoming, start_migration, poll every
20 ms until completed, complete_migration).

Printed: the median of each, and (b)/(a).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid as uuid_mod

from oslo_config import cfg

from move_orchestrator import conf as mo_conf
from move_orchestrator.drivers.compute import base


def _options(argv):
    parser = argparse.ArgumentParser(prog='bench_libvirt', add_help=False)
    parser.add_argument('--libvirt-ram-mb', type=int, default=256)
    parser.add_argument('--libvirt-moves', type=int, default=10,
                        help='migrations of each kind')
    return parser.parse_known_args(argv)[0]


def _driver(hosts, root):
    from move_orchestrator.drivers.compute import libvirt
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator-bench', default_config_files=[])
    for name, value in {'instances_path': root + '/inst', 'guest_fill_ratio': 1.0,
                        'host_uris': {h.name: h.uri for h in hosts},
                        'migration_addresses': {h.name: '127.0.0.1' for h in hosts},
                        'storage_groups': {h.name: 'g' for h in hosts}}.items():
        conf.set_override(name, value, 'libvirt')
    return libvirt.LibvirtDriver(conf)


def _bare(driver, uuid, source, dest):
    """migrateToURI3 as the driver calls it (same flags, same destination
    XML), without the driver; the XML is made before the clock starts."""
    from move_orchestrator.drivers.compute.libvirt import domain_xml
    from move_orchestrator.drivers.compute.libvirt import migration
    lv = migration.states.libvirt
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
    started = time.monotonic()
    dom.migrateToURI3(driver.conns.uri(dest), params, migration.flags(False, False))
    return time.monotonic() - started


def _ours(driver, spec, source, dest, n):
    started = time.monotonic()
    driver.prepare_incoming(spec, dest)
    driver.start_migration(spec['uuid'], source, dest, migration_id='bench-%d' % n)
    while driver.poll_migration(spec['uuid'])['status'] in base.MIGRATION_ACTIVE:
        time.sleep(0.02)
    driver.complete_migration(spec['uuid'])
    return time.monotonic() - started


def run(argv=None):
    args = _options(argv if argv is not None else sys.argv[1:])
    from move_orchestrator.drivers.compute.libvirt import daemons
    root = tempfile.mkdtemp(prefix='mob', dir='/tmp')
    hosts = daemons.start_hosts(root, ['host1', 'host2'])
    driver = None
    try:
        driver = _driver(hosts, root)
        spec = {'uuid': str(uuid_mod.uuid4()), 'name': 'bench', 'vcpus': 1,
                'ram_mb': args.libvirt_ram_mb, 'disk_gb': 1}
        driver.create_disk(spec, 'host1')
        driver.spawn(spec, 'host1')
        time.sleep(2)       # the guest fills its RAM
        times = {'bare': [], 'ours': []}
        where = 'host1'
        for n in range(2 * args.libvirt_moves):
            other = 'host2' if where == 'host1' else 'host1'
            if (n // 2) % 2:      # each kind both ways: bare, bare, ours, ours
                times['ours'].append(_ours(driver, spec, where, other, n))
            else:
                times['bare'].append(_bare(driver, spec['uuid'], where, other))
            where = other
        bare, ours = (statistics.median(times[k]) for k in ('bare', 'ours'))
        print('libvirt live migration, %d MiB guest, %d each (medians):'
              % (args.libvirt_ram_mb, args.libvirt_moves))
        print('  (a) bare migrateToURI3   %.3f s' % bare)
        print('  (b) our driver           %.3f s  (%.2fx)' % (ours, ours / bare))
    finally:
        if driver is not None:
            driver.destroy_all()
            driver.close()
        for problem in daemons.stop_hosts(root, hosts):
            print('left behind: %s' % problem)
