"""The switch-over watcher (qemu/switchover.py) against a scripted source
monitor: what it does between its ``migrate-continue`` and the source's
end of the switch-over, while the guest runs nowhere."""

import json
import select
import socket
import threading
import time

from move_orchestrator.drivers.compute.qemu import switchover
from tests.unit import scripted_monitor

SENDING = 0.2   # seconds the scripted source takes to send the rest


def event(name, microseconds, status=None):
    ev = {'event': name, 'timestamp': {'seconds': 1700000000,
                                       'microseconds': microseconds}}
    if status:
        ev['data'] = {'status': status}
    return ev


def serve(path, asked_while_sending):
    """A source that converges at the watcher's first look and, once
    continued, announces ``device`` at once and ``completed`` SENDING
    later; whether the watcher asked anything meanwhile is appended to
    asked_while_sending."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def send(conn, *lines):
        conn.sendall(b''.join(json.dumps(x).encode() + b'\n' for x in lines))

    def run():
        conn, _ = server.accept()
        buf = b''
        send(conn, scripted_monitor.GREETING)
        while True:
            while b'\n' not in buf:
                data = conn.recv(65536)
                if not data:
                    conn.close()
                    return
                buf += data
            line, buf = buf.split(b'\n', 1)
            message = json.loads(line)
            command = message['execute']
            if command == 'query-migrate':
                send(conn, scripted_monitor.answer(message, {'status': 'active'}),
                     event('STOP', 0), event('MIGRATION', 1000, 'pre-switchover'))
            elif command == 'migrate-continue':
                send(conn, scripted_monitor.answer(message, {}),
                     event('MIGRATION', 2500, 'device'))
                time.sleep(SENDING)
                asked_while_sending.append(
                    bool(buf) or bool(select.select([conn], [], [], 0)[0]))
                send(conn, event('MIGRATION', 4000, 'completed'))
            else:
                send(conn, scripted_monitor.answer(message, {}))

    threading.Thread(target=run, daemon=True).start()


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
