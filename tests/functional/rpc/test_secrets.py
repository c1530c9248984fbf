"""No password in any log line, CLI output or task document.

A RabbitMQ user and a PostgreSQL URL get a password made for this test;
``move-orchestrator-manage``, the conductor service, two compute agents and
the CLI run with it in every URL (RPC, notifications, database), at INFO
and at DEBUG, and everything they write is searched for it. PostgreSQL
here trusts local connections, so the database URL's password is ignored by
the server but still present in every place that could print it.
"""

import json
import os
import signal
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from move_orchestrator import context
from tests.db_fixtures import postgresql_url  # noqa: F401
from tests.functional.rpc import harness
from tests import services as test_services

INVENTORY = {
    'flavors': [{'name': 'm1.small', 'vcpus': 1, 'ram_mb': 2048,
                 'disk_gb': 20}],
    'instances': [{'name': 'vm-secret', 'host': 'compute1',
                   'flavor': 'm1.small', 'power_state': 'shutdown'},
                  {'name': 'vm-live', 'host': 'compute1',
                   'flavor': 'm1.small'}],
}


@pytest.fixture
def broker_user():
    """(transport URL, password): a vhost and a user of its own."""
    test_services.require_service('rabbitmq')
    with harness.broker_in_use():
        yield from _broker_user()


def _broker_user():
    name = 'mo-user-%s' % uuid.uuid4().hex[:8]
    password = 'Pw-%s' % uuid.uuid4().hex
    try:
        harness.rabbitmqctl('add_vhost', name)
        harness.rabbitmqctl('add_user', name, password)
        harness.rabbitmqctl('set_permissions', '-p', name, name, '.*', '.*',
                            '.*')
    except (OSError, subprocess.SubprocessError) as e:
        test_services.unavailable('rabbitmq', 'rabbitmqctl: %s' % e)
    try:
        yield 'rabbit://%s:%s@127.0.0.1:5672/%s' % (name, password,
                                                    name), password
    finally:
        harness.rabbitmqctl('delete_vhost', name, check=False)
        harness.rabbitmqctl('delete_user', name, check=False)


def _ini(path, sections):
    with open(path, 'w') as f:
        f.write(harness._ini(sections))
    return path


class Outputs:
    """Everything the processes wrote, by where it came from."""

    def __init__(self):
        self.texts = {}

    def add(self, where, text):
        self.texts[where] = self.texts.get(where, '') + text

    def run(self, where, cmd, check=True):
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=120)
        self.add(where, proc.stdout + proc.stderr)
        if check:
            assert proc.returncode == 0, (cmd, proc.stderr[-3000:])
        return proc


def _agent(workdir, host, transport_url, db_url, debug):
    config = _ini(os.path.join(workdir, '%s.conf' % host), {
        'DEFAULT': {'transport_url': transport_url, 'host': host,
                    'debug': debug},
        'database': {'connection': db_url},
        'compute': {'agent_driver': 'fake', 'agent_vcpus': 16,
                    'agent_ram_mb': 32768, 'agent_disk_gb': 500,
                    'agent_cpu_model': 'Cascadelake'},
        'oslo_messaging_rabbit': {'rabbit_retry_interval': 1},
    })
    log = os.path.join(workdir, '%s.log' % host)
    with open(log, 'ab') as out:
        proc = subprocess.Popen(
            [os.path.join(harness.BIN, 'move-orchestrator-compute'),
             '--config-file', config], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    harness.wait_for(lambda: b'serving topic' in open(log, 'rb').read()
                     or proc.poll() is not None, timeout=60)
    assert proc.poll() is None, open(log).read()
    return proc, log


@pytest.mark.parametrize('debug', [False, True], ids=['INFO', 'DEBUG'])
def test_no_password_anywhere(tmp_path, broker_user, postgresql_url,  # noqa: F811
                              debug):
    transport_url, password = broker_user
    db_url = sa.engine.make_url(postgresql_url).set(
        password=password).render_as_string(hide_password=False)
    workdir = str(tmp_path)
    out = Outputs()
    conductor = harness.ConductorProcess(
        workdir, transport_url, db_url, host='conductor-secret',
        DEFAULT={'debug': debug},
        compute={'driver': 'rpc'},
        oslo_messaging_notifications={'driver': 'messagingv2',
                                      'transport_url': transport_url})
    manage = [os.path.join(harness.BIN, 'move-orchestrator-manage'),
              '--config-file', conductor.config]
    cli = [os.path.join(harness.BIN, 'move-orchestrator'), '--config-file',
           conductor.config] + (['--debug'] if debug else [])
    out.run('db sync', manage + ['db', 'sync'])
    agents = [_agent(workdir, host, transport_url, db_url, debug)
              for host in ('compute1', 'compute2')]
    try:
        inventory = os.path.join(workdir, 'inventory.json')
        with open(inventory, 'w') as f:
            json.dump(INVENTORY, f)
        out.run('inventory load', manage + ['inventory', 'load', inventory])
        conductor.start()
        try:
            moved = json.loads(out.run('move', cli + [
                'move', 'vm-secret', '--to', 'compute2', '--wait', '-f',
                'json']).stdout)
            assert moved['State'] == 'completed', moved
            live = json.loads(out.run('move live', cli + [
                'move', 'vm-live', '--to', 'compute2', '--wait', '-f',
                'json']).stdout)
            assert live['State'] == 'completed', live
            for task in (moved, live):
                out.run('task show', cli + ['task', 'show', task['ID'], '-f',
                                            'json'])
                out.run('task show table', cli + ['task', 'show',
                                                  task['ID']])
            out.run('task list', cli + ['task', 'list', '-f', 'json'])
            out.run('host list', cli + ['host', 'list'])
            out.run('refused', cli + ['move', 'no-such-vm'], check=False)
            # The task documents as the compute API reads them.
            api = harness.client(transport_url)
            try:
                ctxt = context.get_admin_context()
                for task in (moved, live):
                    out.add('rpc task document', json.dumps(
                        api.get_task(ctxt, task['ID'])))
            finally:
                api.cleanup()
        finally:
            assert conductor.stop() == 0
    finally:
        # All at once: each waits up to 5 s for oslo.messaging's idle
        # listener to notice its stop.
        for proc, log in agents:
            proc.send_signal(signal.SIGTERM)
        for proc, log in agents:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # Failed connections name the URL without its password.
    bad_broker = _ini(os.path.join(workdir, 'bad-broker.conf'), {
        'DEFAULT': {'transport_url': transport_url.replace(':5672/', ':9/'),
                    'rpc_response_timeout': 2, 'debug': debug},
        'database': {'connection': db_url}})
    proc = out.run('unreachable broker', [
        os.path.join(harness.BIN, 'move-orchestrator'), '--config-file',
        bad_broker, 'task', 'list'], check=False)
    assert proc.returncode == 1
    bad_db = _ini(os.path.join(workdir, 'bad-db.conf'), {
        'database': {'connection': db_url.replace(':5432/', ':9/')},
        'DEFAULT': {'debug': debug}})
    for where, cmd in (
            ('unreachable database, manage', [
                os.path.join(harness.BIN, 'move-orchestrator-manage'),
                '--config-file', bad_db, 'db', 'version']),
            ('unreachable database, cli', [
                os.path.join(harness.BIN, 'move-orchestrator'),
                '--config-file', bad_db, 'task', 'list'])):
        assert out.run(where, cmd, check=False).returncode == 1
    out.add('conductor log', conductor.log_text())
    for proc, log in agents:
        out.add(os.path.basename(log), open(log, errors='replace').read())

    leaks = {where: text.count(password) for where, text in out.texts.items()
             if password in text}
    assert not leaks, leaks
    # And the URLs were there to leak: masked, not missing.
    everything = '\n'.join(out.texts.values())
    user = transport_url.split('//', 1)[1].split(':', 1)[0]
    assert 'rabbit://%s:***@' % user in everything
    assert ':***@127.0.0.1:9/' in out.texts['unreachable database, manage']
    if debug:
        assert 'DEBUG' in out.texts['conductor log']
