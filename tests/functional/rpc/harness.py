"""Real conductor services for the RPC tests: a private RabbitMQ virtual
host per test run, ``move-orchestrator-conductor`` processes with generated
config files, and a compute-API-side client (rpcapi.MoveAPI) on a private
ConfigOpts.
"""

import atexit
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from move_orchestrator import cloud
from move_orchestrator import conf as mo_conf
from move_orchestrator.conductor import services as services_mod
from move_orchestrator import rpc
from move_orchestrator import rpcapi
from move_orchestrator import states
from tests import services as test_services

BIN = os.path.dirname(sys.executable)
TERMINAL = states.TERMINAL_STATES
RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/%s'
_PROCESSES = set()
# Machine-wide: xdist workers and other runs on the shared RabbitMQ.
BROKER_LOCK = '/tmp/move-orchestrator-test-rabbitmq.lock'
_broker = {'fd': None, 'users': 0}


def rabbitmqctl(*args, check=True):
    return subprocess.run(('rabbitmqctl',) + args, check=check,
                          capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def broker_in_use():
    """Held (shared) while a test uses the shared RabbitMQ, so that a test
    that stops it (broker_alone) does so while no other test, on any
    worker or run, depends on it. Nests within a process."""
    if _broker['users'] == 0:
        fd = os.open(BROKER_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_SH)
        _broker['fd'] = fd
    _broker['users'] += 1
    try:
        yield
    finally:
        _broker['users'] -= 1
        if _broker['users'] == 0:
            os.close(_broker['fd'])     # and with it the lock
            _broker['fd'] = None


@contextlib.contextmanager
def broker_alone():
    """The shared RabbitMQ to this test alone, to stop and start it: waits
    for the other tests that use it to end, and holds off new ones."""
    with broker_in_use():
        fcntl.flock(_broker['fd'], fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(_broker['fd'], fcntl.LOCK_SH)


@contextlib.contextmanager
def private_vhost():
    """A RabbitMQ virtual host of our own: parallel runs never share the
    ``move_orchestrator`` queues. Deleted, with its queues, on exit."""
    test_services.require_service('rabbitmq')
    with broker_in_use():
        with _vhost() as url:
            yield url


@contextlib.contextmanager
def _vhost():
    vhost = 'mo-test-%s' % uuid.uuid4().hex[:12]
    try:
        rabbitmqctl('add_vhost', vhost)
        rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*',
                    '.*')
    except (OSError, subprocess.SubprocessError) as e:
        test_services.unavailable('rabbitmq', 'rabbitmqctl add_vhost: %s'
                                  % getattr(e, 'stderr', e))
    try:
        yield RABBIT % vhost
    finally:
        rabbitmqctl('delete_vhost', vhost, check=False)


def _ini(sections):
    lines = []
    for section, values in sections.items():
        lines.append('[%s]' % section)
        lines.extend('%s = %s' % (k, v) for k, v in values.items())
        lines.append('')
    return '\n'.join(lines)


def service_config(transport_url, db_url, host, **extra):
    """The sections of a conductor's config file; ``extra`` maps a section
    to options merged over the defaults."""
    sections = {
        'DEFAULT': {'transport_url': transport_url, 'host': host,
                    'shutdown_timeout': 20, 'rpc_response_timeout': 20},
        'database': {'connection': db_url},
        'oslo_messaging_notifications': {'driver': 'messagingv2'},
        'oslo_messaging_rabbit': {'rabbit_retry_interval': 1,
                                  'rabbit_retry_backoff': 1},
        'fake_driver': {'faults': 'copy_disk@host-faulty=fail'},
    }
    for section, values in extra.items():
        sections.setdefault(section, {}).update(values)
    return sections


def load_conf(path):
    """A private ConfigOpts with all our options, parsed from ``path``."""
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf(['--config-file', path], project='move-orchestrator')
    return conf


class ConductorProcess:
    """One ``move-orchestrator-conductor`` process."""

    def __init__(self, workdir, transport_url, db_url, host=None, **extra):
        self.workdir = str(workdir)
        self.host = host or 'conductor-%s' % uuid.uuid4().hex[:6]
        self.config = os.path.join(self.workdir, '%s.conf' % self.host)
        self.log = os.path.join(self.workdir, '%s.log' % self.host)
        with open(self.config, 'w') as f:
            f.write(_ini(service_config(transport_url, db_url, self.host,
                                        **extra)))
        self.proc = None
        self._services = None

    def db_sync(self):
        subprocess.run([os.path.join(BIN, 'move-orchestrator-manage'),
                        '--config-file', self.config, 'db', 'sync'],
                       check=True, capture_output=True, timeout=120)

    @property
    def services(self):
        """The database as the service sees it, from this test process."""
        if self._services is None:
            self._services = services_mod.Services(load_conf(self.config))
        return self._services

    def start(self, timeout=60):
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        out = open(self.log, 'ab')
        self.proc = subprocess.Popen(
            [os.path.join(BIN, 'move-orchestrator-conductor'),
             '--config-file', self.config],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        _PROCESSES.add(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, 'rb') as f:
                f.seek(offset)
                if b'serving topic' in f.read():
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError('conductor %s did not start:\n%s'
                           % (self.host, self.log_text()[-4000:]))

    def stop(self, sig=signal.SIGTERM, timeout=40):
        """Signal the service; returns its exit code (SIGKILL on timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            _PROCESSES.discard(self.proc)

    def log_text(self):
        with open(self.log, errors='replace') as f:
            return f.read()


@contextlib.contextmanager
def agent_process(workdir, transport_url, db_url, host, **extra):
    """A ``move-orchestrator-compute`` of ``host`` on the fake driver,
    serving until the block ends; yields its config file's path (its
    database synced first). ``extra`` as for service_config."""
    config = os.path.join(str(workdir), '%s.conf' % host)
    log = os.path.join(str(workdir), '%s.log' % host)
    sections = {
        'DEFAULT': {'transport_url': transport_url, 'host': host},
        'database': {'connection': db_url},
        'compute': {'agent_driver': 'fake', 'agent_vcpus': 16,
                    'agent_ram_mb': 32768, 'agent_disk_gb': 500,
                    'agent_cpu_model': 'Cascadelake'},
        'oslo_messaging_rabbit': {'rabbit_retry_interval': 1},
    }
    for section, values in extra.items():
        sections.setdefault(section, {}).update(values)
    with open(config, 'w') as f:
        f.write(_ini(sections))
    subprocess.run([os.path.join(BIN, 'move-orchestrator-manage'),
                    '--config-file', config, 'db', 'sync'],
                   check=True, capture_output=True, timeout=120)
    with open(log, 'ab') as out:
        proc = subprocess.Popen(
            [os.path.join(BIN, 'move-orchestrator-compute'),
             '--config-file', config], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    _PROCESSES.add(proc)
    try:
        wait_for(lambda: 'serving topic' in _text(log)
                 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, _text(log)[-4000:]
        yield config
    finally:
        proc.terminate()
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _PROCESSES.discard(proc)


def _text(path):
    with open(path, errors='replace') as f:
        return f.read()


@atexit.register
def _kill_leftovers():
    for proc in list(_PROCESSES):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def seed(services, hosts=6, prefix='host'):
    """Flavors and ``hosts`` large up hosts of one CPU model, plus
    ``host-faulty`` (copy_disk fails there)."""
    inventory = services.inventory
    for name, vcpus, ram, disk in cloud.DEMO_FLAVORS:
        inventory.create_flavor(name, vcpus, ram, disk)
    names = ['%s%d' % (prefix, i) for i in range(1, hosts + 1)]
    for name in names + ['host-faulty']:
        inventory.create_host(name, vcpus=4096, ram_mb=4096 * 1024,
                              disk_gb=1024 * 1024, cpu_model='Cascadelake',
                              storage_group='local-%s' % name)
    return names


def boot(services, host, flavor='m1.tiny', power_state='running',
         project_id='demo', name=None):
    name = name or 'vm-%s' % uuid.uuid4().hex[:8]
    return cloud.boot_instance(services, name, host, flavor,
                               power_state=power_state,
                               project_id=project_id, user_id='u-' + name)


def client(transport_url, version_cap=None, timeout=20):
    """A MoveAPI as a compute API builds it, on its own ConfigOpts."""
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator')
    conf.set_override('transport_url', transport_url)
    conf.set_override('rpc_response_timeout', timeout)
    if not version_cap:
        return rpcapi.MoveAPI(conf, timeout=timeout)
    # Overrides of a group live in the OptGroup object, which every
    # ConfigOpts registering our conf modules shares: undo it once read.
    conf.set_override('conductor', version_cap, group='upgrade_levels')
    try:
        return rpcapi.MoveAPI(conf, timeout=timeout)
    finally:
        conf.clear_override('conductor', group='upgrade_levels')


def wait_task(api, ctxt, task_id, timeout=60, states=TERMINAL):
    deadline = time.monotonic() + timeout
    while True:
        doc = api.get_task(ctxt, task_id)
        if doc['state'] in states:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError('task %s still %s after %s s' % (
                task_id, doc['state'], timeout))
        time.sleep(0.05)


def wait_for(predicate, timeout=30, interval=0.05):
    """predicate()'s first truthy value, or AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %s s' % timeout)
        time.sleep(interval)


class NotificationCollector:
    """A notification endpoint remembering (priority, event, payload)."""

    def __init__(self):
        self.events = []

    def _record(self, priority):
        def endpoint(ctxt, publisher_id, event_type, payload, metadata):
            self.events.append((priority, event_type, payload))
        return endpoint

    def __getattr__(self, priority):
        if priority in ('audit', 'debug', 'info', 'warn', 'error',
                        'critical', 'sample'):
            return self._record(priority)
        raise AttributeError(priority)

    def for_task(self, task_id):
        return [e for e in self.events if e[2].get('id') == task_id]


@contextlib.contextmanager
def notification_listener(api):
    """A real oslo.messaging listener on versioned_notifications."""
    collector = NotificationCollector()
    target = messaging.Target(topic='versioned_notifications')
    listener = messaging.get_notification_listener(
        api.transport, [target], [collector],
        serializer=rpc.RequestContextSerializer(
            messaging.JsonPayloadSerializer()))
    listener.start()
    try:
        yield collector
    finally:
        listener.stop()
        listener.wait()
