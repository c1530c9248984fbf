"""The switch-over watcher (qemu/switchover.py) against a scripted source
monitor: what it does between its ``migrate-continue`` and the source's
end of the switch-over, while the guest runs nowhere."""

import fcntl
import json
import time

from move_orchestrator.drivers.compute.qemu import switchover
from tests.unit import scripted_monitor

SENDING = 0.2   # seconds the scripted source takes to send the rest


def migration(status, microseconds):
    return scripted_monitor.event('MIGRATION', microseconds, status=status)


def serve(path, asked_while_sending):
    """A source that converges at the watcher's first look and, once
    continued, announces ``device`` at once and ``completed`` SENDING
    later; whether the watcher asked anything meanwhile is appended to
    asked_while_sending."""
    def run(conn):
        conn.send(scripted_monitor.GREETING)
        while (message := conn.command()) is not None:
            command = message['execute']
            if command == 'query-migrate':
                conn.send(scripted_monitor.answer(message, {'status': 'active'}),
                          scripted_monitor.event('STOP'),
                          migration('pre-switchover', 1000))
            elif command == 'migrate-continue':
                conn.send(scripted_monitor.answer(message, {}),
                          migration('device', 2500))
                time.sleep(SENDING)
                asked_while_sending.append(conn.asked())
                conn.send(migration('completed', 4000))
            else:
                conn.send(scripted_monitor.answer(message, {}))

    scripted_monitor.script(path, run)


def test_nothing_is_asked_of_the_source_until_it_has_sent_the_rest(tmp_path):
    sock, record = str(tmp_path / 'qmp.sock'), str(tmp_path / 'm.json')
    with open(record, 'w') as f:
        json.dump({'id': 'm1', 'status': 'running', 'migrate_started': True,
                   'block': False, 'continued': False}, f)
    asked_while_sending = []
    serve(sock, asked_while_sending)
    why = switchover.watch(sock, '', record, 'm1', 5, lambda: None)
    assert why.startswith('switched over'), why
    # Its figures' look waited: the two QEMUs need the cores meanwhile.
    assert asked_while_sending == [False]
    with open(record) as f:
        assert json.load(f)['continued'] is True
    with open(switchover.figures_path(record)) as f:
        figures = json.load(f)
    assert figures['switchover_wait_ms'] == 1.5
    assert figures['stopped_at'] == 1700000000.0


def _taken_elsewhere(path):
    """Whether another opening of the lock file finds it taken."""
    with open(path, 'a') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_a_lock_kept_open_excludes_others_only_while_held(tmp_path):
    """The watcher opens its migration's lock once; each switch-over
    attempt then only locks it, and lets it go for a cancel after it."""
    record = str(tmp_path / 'm' / 'uuid.json')
    lock = switchover.locked(record)
    lock.open()
    try:
        for _attempt in range(2):
            with lock:
                assert _taken_elsewhere(record + '.lock')
            assert not _taken_elsewhere(record + '.lock')
    finally:
        lock.close()
    with switchover.locked(record):     # opened and closed by its with
        assert _taken_elsewhere(record + '.lock')
    assert not _taken_elsewhere(record + '.lock')
