"""Fixtures for the qemu driver: real QEMU processes, cleaned up for sure.

``qemu_root`` (session) is the one directory every test's hosts live under.
At session end it kills any QEMU process still running from it, deletes it,
and fails the session if anything had been left behind. QEMU missing skips
the tests with the command that installs it, except under ``CI=true``,
where it fails them.
"""

import os
import shutil
import signal
import tempfile
import time

from oslo_config import cfg
import pytest

from move_orchestrator import conf as mo_conf
from move_orchestrator.conf import qemu as qemu_conf
from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute import qemu
from move_orchestrator.drivers.compute.qemu import guest
from tests import harness
from tests import services

INSTALL = 'apt-get install -y qemu-system-x86 qemu-utils binutils'


def qemu_processes(root):
    """Pids of live QEMU processes whose command line mentions root."""
    return procfs.processes('qemu-system', root)


def _require_qemu():
    missing = [b for b in ('qemu-system-x86_64', 'qemu-img', 'as', 'ld')
               if shutil.which(b) is None]
    if missing:
        msg = '%s not found: install with `%s`' % (', '.join(missing), INSTALL)
        if services.in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope='session')
def qemu_root():
    _require_qemu()
    guest.build()
    # Short: unix socket paths must stay under 108 bytes.
    root = tempfile.mkdtemp(prefix='moq', dir='/tmp')
    yield root
    left = qemu_processes(root)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while qemu_processes(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers = []
    for dirpath, _dirs, files in os.walk(root):
        leftovers += [os.path.join(dirpath, f) for f in files]
    shutil.rmtree(root, ignore_errors=True)
    assert not left, 'QEMU processes left running: %s' % left
    assert not leftovers, 'files left behind: %s' % leftovers
    assert not os.path.exists(root)


@pytest.fixture
def make_driver(qemu_root, request):
    """make_driver(**qemu_opts) -> a QemuDriver on this test's hosts.

    Every driver made shares the test's instances_path; at teardown every
    domain, disk, socket and record under it is destroyed and checked gone.
    """
    path = os.path.join(qemu_root, 't%d' % len(os.listdir(qemu_root)))
    os.makedirs(path)
    made = []

    def factory(**overrides):
        conf = cfg.ConfigOpts()
        mo_conf.register_all(conf)
        conf([], project='move-orchestrator-test', default_config_files=[])
        # Overrides live in the module-level OptGroup objects, so they leak
        # from one ConfigOpts to the next: set every option the tests vary.
        opts = dict(instances_path=path, completion_timeout_per_gib=0,
                    completion_timeout_action='abort', storage_groups={},
                    max_bandwidth=0, downtime_limit_ms=300,
                    permit_post_copy=False, guest_dirty_pages=0,
                    operation_timeout=60.0)
        opts.update(overrides)
        for name, value in opts.items():
            conf.set_override(name, value, 'qemu')
        driver = qemu.QemuDriver(conf)
        made.append(driver)
        return driver

    yield factory
    if made:
        made[0].destroy_all()
        for opt in qemu_conf.OPTS:
            made[0].conf.clear_override(opt.dest, 'qemu')
    assert qemu_processes(path) == []
    assert not os.path.exists(path)


@pytest.fixture
def driver(make_driver):
    return make_driver()


# -- a cloud of three hosts running the qemu driver ---------------------------
FLAVORS = (('q.small', 1, 64, 1), ('q.big', 2, 96, 2))


HOSTS = ('host1', 'host2', 'host3')


QEMU_DEFAULTS = {
    'compute__driver': 'qemu', 'qemu__storage_groups': {},
    'qemu__max_bandwidth': 0, 'qemu__downtime_limit_ms': 300,
    'qemu__completion_timeout_per_gib': 0,
    'qemu__completion_timeout_action': 'abort',
    'qemu__guest_dirty': False, 'qemu__guest_fill_ratio': 0.75,
    'qemu__permit_post_copy': False, 'qemu__guest_dirty_pages': 0,
    'live_migration__progress_timeout': 150.0,
    'live_migration__stall_actions': ['auto_converge', 'abort'],
    # A real hypervisor: poll it every 20 ms, not every 1 ms.
    'conductor__poll_interval': 0.02,
}


def seed(services):
    inventory = services.inventory
    for flavor in FLAVORS:
        inventory.create_flavor(*flavor)
    for host in HOSTS:
        inventory.create_host(host, vcpus=4, ram_mb=1024, disk_gb=20,
                              cpu_model='qemu64')


@pytest.fixture
def image(tmp_path_factory):
    """A 4 MiB raw image: 2 MiB of random data, then zeros."""
    path = tmp_path_factory.mktemp('image') / 'image.raw'
    path.write_bytes(os.urandom(2 << 20) + b'\0' * (2 << 20))
    return str(path)


@pytest.fixture
def make_cloud(qemu_root, tmp_path):
    """make_cloud(**overrides) -> a harness.Cloud running the qemu driver.

    Its hosts live in a directory of their own under qemu_root; at teardown
    every domain, disk, socket and migration record under it is destroyed
    and checked gone.
    """
    path = os.path.join(qemu_root, 'm%d' % len(os.listdir(qemu_root)))
    os.makedirs(path)
    clouds = []

    def factory(task_faults=(), **overrides):
        opts = dict(QEMU_DEFAULTS, qemu__instances_path=path)
        opts.update(overrides)
        cloud = harness.Cloud('sqlite:///%s' % (tmp_path / 'mo.db'),
                              task_faults=task_faults, seed=False, **opts)
        clouds.append(cloud)
        if not cloud.services.inventory.list_hosts():
            seed(cloud.services)
        cloud.tmp = tmp_path
        return cloud

    yield factory
    try:
        if clouds:
            clouds[0].services.driver.destroy_all()
    finally:
        for cloud in clouds:
            cloud.close()
    assert qemu_processes(path) == []
    assert not os.path.exists(path)
