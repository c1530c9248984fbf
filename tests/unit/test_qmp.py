"""The QMP client against a scripted monitor socket.

Real QEMU runs in tests/functional/qemu; what is scripted here is a
quirk that real QEMU shows only by chance (seen during the benchmarks): it
keeps what it could not send to the client that just hung up, an event
emitted at that moment, and sends it to the next client ahead of the
greeting.
"""

import json
import os
import socket
import threading

import pytest

from move_orchestrator.drivers.compute.qemu import qmp

GREETING = {'QMP': {'version': {'qemu': {'major': 7}}, 'capabilities': []}}
STALE_EVENT = {'event': 'MIGRATION', 'data': {'status': 'active'},
               'timestamp': {'seconds': 1, 'microseconds': 0}}


def serve(path, first_lines):
    """A monitor that sends first_lines, then answers every command with
    {'return': {'status': 'running'}} and its id."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn, conn.makefile('rwb') as f:
            for line in first_lines:
                f.write(json.dumps(line).encode() + b'\n')
            f.flush()
            for raw in f:
                msg = json.loads(raw)
                f.write(json.dumps({'return': {'status': 'running'},
                                    'id': msg.get('id')}).encode() + b'\n')
                f.flush()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sock_path(tmp_path):
    return os.path.join(str(tmp_path), 'qmp.sock')


def test_stale_output_ahead_of_the_greeting_is_skipped(sock_path):
    serve(sock_path, [STALE_EVENT, {'return': {}, 'id': 7}, GREETING])
    with qmp.QMPClient(sock_path, timeout=5) as q:
        assert q.execute('query-status') == {'status': 'running'}
        assert q.events == []     # the stale event was not this session's


def test_no_greeting_is_an_error(sock_path):
    serve(sock_path, [{'hello': 'not qemu'}])
    with pytest.raises(qmp.QMPError, match='no greeting'):
        qmp.QMPClient(sock_path, timeout=5).connect()
