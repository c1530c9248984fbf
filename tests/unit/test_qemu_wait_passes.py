"""A qemu wait that goes on through the passes over the memory
(wait_migration's wake_at_pass false), against a scripted source monitor:
it looks at each pass, but not at the one the guest's stop follows."""

import time

from oslo_config import cfg

from move_orchestrator import conf as mo_conf
from move_orchestrator.drivers.compute.qemu import driver as qemu_driver
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import waiting
from tests.unit import scripted_monitor

MIB = 1 << 20
REC = {'migrate_started': True, 'block': False, 'ram_mb': 256, 'disk_bytes': 0,
       'job': 'mirror-x'}


def serve(path, asked_after_last_pass):
    """Pass 2 (looked at), then pass 3 at once followed by the guest's
    stop and pre-switchover, as QEMU sends them when that pass converges;
    whether anything was asked after it goes to asked_after_last_pass."""
    event = scripted_monitor.event

    def run(conn):
        conn.send(scripted_monitor.GREETING)
        conn.send(scripted_monitor.answer(conn.command(), {}))
        conn.send(event('MIGRATION_PASS', **{'pass': 2}))
        look = conn.command()
        assert look['execute'] == 'query-migrate', look
        conn.send(scripted_monitor.answer(look, {
            'status': 'active', 'ram': {'remaining': 40 * MIB, 'transferred': 200 * MIB,
                                        'dirty-sync-count': 2}}))
        time.sleep(0.05)
        conn.send(event('MIGRATION_PASS', **{'pass': 3}), event('STOP'))
        time.sleep(0.001)
        conn.send(event('MIGRATION', status='pre-switchover'))
        time.sleep(0.2)
        asked_after_last_pass.append(conn.asked())

    return scripted_monitor.script(path, run)


def _driver(tmp_path):
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], default_config_files=[])
    conf.set_override('instances_path', str(tmp_path / 'q'), 'qemu')
    return qemu_driver.QemuDriver(conf)


def test_the_pass_the_guest_stops_at_is_not_looked_at(tmp_path):
    driver = _driver(tmp_path)
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


def serve_unlooked(path, asked_at):
    """Passes 2 and 3, then the guest's stop and pre-switchover; whether
    anything was asked after each pass goes to asked_at."""
    event = scripted_monitor.event

    def run(conn):
        conn.send(scripted_monitor.GREETING)
        conn.send(scripted_monitor.answer(conn.command(), {}))
        for n in (2, 3):
            conn.send(event('MIGRATION_PASS', **{'pass': n}))
            time.sleep(0.05)
            asked_at.append(conn.asked())
        conn.send(event('STOP'), event('MIGRATION', status='pre-switchover'))
        time.sleep(0.2)
        asked_at.append(conn.asked())

    return scripted_monitor.script(path, run)


def test_passes_the_stall_policy_does_not_count_are_not_looked_at(tmp_path):
    """look_at_passes false (the copy's start, before the stall policy
    counts passes): the wait goes on through them, asking QEMU nothing."""
    driver = _driver(tmp_path)
    sock = str(tmp_path / 'qmp.sock')
    asked = []
    server = serve_unlooked(sock, asked)
    unlooked = waiting._UNLOOKED
    with qmp.QMPClient(sock, timeout=5) as q:
        news = driver._next_news(q, 'uuid', dict(REC), None,
                                 time.monotonic() + 5, unlooked)
        server.join(5)
    assert news['data'] == {'status': 'pre-switchover'}
    assert asked == [False, False, False]
