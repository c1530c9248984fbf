"""A qemu wait that goes on through the passes over the memory
(wait_migration's wake_at_pass false), against a scripted source monitor:
it looks at each pass, but not at the one the guest's stop follows."""

import json
import select
import socket
import threading
import time

from oslo_config import cfg

from move_orchestrator import conf as mo_conf
from move_orchestrator.drivers.compute.qemu import driver as qemu_driver
from move_orchestrator.drivers.compute.qemu import qmp
from tests.unit import scripted_monitor

MIB = 1 << 20
REC = {'migrate_started': True, 'block': False, 'ram_mb': 256, 'disk_bytes': 0,
       'job': 'mirror-x'}


def event(name, **data):
    ev = {'event': name, 'timestamp': {'seconds': 1700000000, 'microseconds': 0}}
    if data:
        ev['data'] = data
    return ev


def serve(path, asked_after_last_pass):
    """Pass 2 (looked at), then pass 3 at once followed by the guest's
    stop and pre-switchover, as QEMU sends them when that pass converges;
    whether anything was asked after it goes to asked_after_last_pass."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def send(conn, *lines):
        conn.sendall(b''.join(json.dumps(x).encode() + b'\n' for x in lines))

    def command(f):
        return json.loads(f.readline())

    def run():
        conn, _ = server.accept()
        f = conn.makefile('rb', buffering=0)
        send(conn, scripted_monitor.GREETING)
        send(conn, scripted_monitor.answer(command(f), {}))
        send(conn, event('MIGRATION_PASS', **{'pass': 2}))
        look = command(f)
        assert look['execute'] == 'query-migrate', look
        send(conn, scripted_monitor.answer(look, {
            'status': 'active', 'ram': {'remaining': 40 * MIB, 'transferred': 200 * MIB,
                                        'dirty-sync-count': 2}}))
        time.sleep(0.05)
        send(conn, event('MIGRATION_PASS', **{'pass': 3}), event('STOP'))
        time.sleep(0.001)
        send(conn, event('MIGRATION', status='pre-switchover'))
        asked_after_last_pass.append(bool(select.select([conn], [], [], 0.2)[0]))
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_pass_the_guest_stops_at_is_not_looked_at(tmp_path):
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], default_config_files=[])
    conf.set_override('instances_path', str(tmp_path / 'q'), 'qemu')
    driver = qemu_driver.QemuDriver(conf)
    sock = str(tmp_path / 'qmp.sock')
    asked = []
    server = serve(sock, asked)
    passes = []
    with qmp.QMPClient(sock, timeout=5) as q:
        news = driver._next_news(q, 'uuid', dict(REC), None,
                                 time.monotonic() + 5, passes)
        server.join(5)
    assert news['data'] == {'status': 'pre-switchover'}
    assert [(look['iteration'], look['remaining_mb']) for _, look in passes] == [(2, 40.0)]
    assert asked == [False]
