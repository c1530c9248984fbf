"""The hold of a migration's wait (qemu/paused.py) against a scripted
source monitor: events that came before QEMU's answer but say more than it.

The switch-over watcher continues a source at ``pre-switchover`` within a
millisecond, and the device state of a small guest follows in another, so
``device`` and ``completed`` can reach the wait's session ahead of the
answer to a ``query-migrate`` whose status was read before them. Real QEMU
does so only by chance (a benchmark move once took 3.4 s, the hold's
bound); scripted here.
"""

import json
import socket
import threading

import pytest

from move_orchestrator.drivers.compute.qemu import paused
from move_orchestrator.drivers.compute.qemu import qmp

GREETING = {'QMP': {'version': {'qemu': {'major': 7}}, 'capabilities': []}}
NOT_SEEN = 'the destination is not seen from here'


def migration(status):
    return {'event': 'MIGRATION', 'data': {'status': status},
            'timestamp': {'seconds': 1700000000, 'microseconds': 0}}


def serve(path, answer, events_first):
    """A source monitor whose query-migrate answers ``answer`` after
    sending events_first; nothing else ever comes."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def send(f, message):
        f.write(json.dumps(message).encode() + b'\n')
        f.flush()

    def run():
        conn, _ = server.accept()
        with conn, conn.makefile('rwb') as f:
            send(f, GREETING)
            for raw in f:
                command = json.loads(raw)
                if command['execute'] == 'query-migrate':
                    for event in events_first:
                        send(f, event)
                    send(f, {'return': {'status': answer}, 'id': command['id']})
                else:
                    send(f, {'return': {}, 'id': command['id']})
        server.close()

    threading.Thread(target=run, daemon=True).start()


@pytest.mark.parametrize('answer, events_first', [
    # Announced while QEMU answered: further along than the answer.
    ('pre-switchover', ['device', 'completed']),
    ('device', ['completed']),
    # Announced before the answer and older than it: the answer stands.
    ('completed', ['pre-switchover', 'device']),
])
def test_the_furthest_status_received_is_the_one_held_on(tmp_path, answer,
                                                         events_first):
    path = str(tmp_path / 'qmp.sock')
    serve(path, answer, [migration(s) for s in events_first])
    with qmp.QMPClient(path, timeout=5) as q:
        # A hold that dropped the events would wait its whole bound for
        # news that came already, and say so.
        why = paused.hold(q, None, watched=lambda: True, bound=5)
        assert why == NOT_SEEN
        assert [e for e in q.events if e['event'] == 'MIGRATION'] == []


def test_events_other_than_the_migration_s_are_left():
    events = [{'event': 'STOP'}, migration('pre-switchover')]
    assert paused.latest('active', events) == 'pre-switchover'
    assert events == [{'event': 'STOP'}]
