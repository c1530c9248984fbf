"""Fixtures for the libvirt driver: two real libvirtd "hosts" per session.

``libvirt_hosts`` starts host1 and host2 (daemons.py) once for the session
and at its end stops them and fails the session if any libvirtd, QEMU,
socket, mount or file outlived them. libvirt (or libvirt-python, QEMU)
missing skips the tests with the command that installs it, except under
``CI=true``, where it fails them.
"""

import itertools
import os
import tempfile

from oslo_config import cfg
import pytest

from move_orchestrator import conf as mo_conf
from move_orchestrator.conf import libvirt as libvirt_conf
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.libvirt import daemons
from tests import harness
from tests import services

HOSTS = ('host1', 'host2')
FLAVORS = (('l.small', 1, 64, 1), ('l.big', 2, 96, 2))


def _require_libvirt():
    missing = daemons.missing()
    if missing:
        msg = '%s not found: install with `%s`, then `tox -e functional ' \
              '--recreate`' % (', '.join(missing), daemons.INSTALL)
        if services.in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def _first_index():
    """Each xdist worker's hosts their own migration ports (the bench and
    the demo use indexes 4 to 9, test_libvirt_driver's lone host 0)."""
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')
    return 10 + len(HOSTS) * int(worker[2:]) if worker.startswith('gw') else 1


@pytest.fixture(scope='session')
def libvirt_hosts():
    _require_libvirt()
    # Short: the daemons' socket paths must stay under 108 bytes.
    root = tempfile.mkdtemp(prefix='mol', dir='/tmp')
    hosts = daemons.start_hosts(root, HOSTS, first_index=_first_index())
    yield hosts
    problems = daemons.stop_hosts(root, hosts)
    assert not problems, problems
    assert not os.path.exists(root)


def driver_opts(hosts, path):
    return {'instances_path': path,
            'host_uris': {h.name: h.uri for h in hosts},
            'migration_addresses': {h.name: '127.0.0.1' for h in hosts},
            'storage_groups': {}, 'max_bandwidth': 0, 'permit_post_copy': False,
            'downtime_limit_ms': 0}


_TEST_DIRS = itertools.count()


def _test_dir(hosts):
    """A directory of the test's own, made by the driver when it needs it."""
    return os.path.join(os.path.dirname(hosts[0].root), 't%d' % next(_TEST_DIRS))


def _check_clean(hosts, path):
    domains = [(h.name, d) for h in hosts for d in h.destroy_domains()]
    assert domains == [], 'domains left defined: %s' % domains
    assert procfs.processes(path) == []
    assert not os.path.exists(path)


@pytest.fixture
def make_driver(libvirt_hosts):
    """make_driver(**libvirt_opts) -> a LibvirtDriver on host1 and host2,
    in a directory of this test's; everything of it destroyed and checked
    gone at teardown."""
    from move_orchestrator.drivers.compute import libvirt
    path = _test_dir(libvirt_hosts)
    made = []

    def factory(**overrides):
        conf = cfg.ConfigOpts()
        mo_conf.register_all(conf)
        conf([], project='move-orchestrator-test', default_config_files=[])
        opts = dict(driver_opts(libvirt_hosts, path), **overrides)
        for name, value in opts.items():
            conf.set_override(name, value, 'libvirt')
        driver = libvirt.LibvirtDriver(conf)
        made.append(driver)
        return driver

    yield factory
    try:
        if made:
            made[0].destroy_all()
    finally:
        for driver in made:
            driver.close()
            for opt in libvirt_conf.OPTS:
                driver.conf.clear_override(opt.dest, 'libvirt')
    _check_clean(libvirt_hosts, path)


@pytest.fixture
def make_cloud(libvirt_hosts, tmp_path):
    """make_cloud(**overrides) -> a harness.Cloud with ``[compute] driver =
    libvirt`` on host1 and host2; cleaned and checked at teardown."""
    path = _test_dir(libvirt_hosts)
    clouds = []

    def factory(task_faults=(), **overrides):
        opts = {'compute__driver': 'libvirt', 'conductor__poll_interval': 0.02,
                'live_migration__progress_timeout': 150.0,
                'live_migration__stall_actions': ['abort']}
        opts.update({'libvirt__' + k: v
                     for k, v in driver_opts(libvirt_hosts, path).items()})
        opts.update(overrides)
        cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'),
                              task_faults=task_faults, seed=False, **opts)
        clouds.append(cloud)
        inventory = cloud.services.inventory
        if not inventory.list_hosts():
            for flavor in FLAVORS:
                inventory.create_flavor(*flavor)
            for host in HOSTS:
                inventory.create_host(host, vcpus=4, ram_mb=1024, disk_gb=20,
                                      cpu_model='qemu64')
        cloud.tmp = tmp_path
        return cloud

    yield factory
    try:
        if clouds:
            clouds[0].services.driver.destroy_all()
    finally:
        for cloud in clouds:
            cloud.services.driver.close()
            cloud.close()
    _check_clean(libvirt_hosts, path)
