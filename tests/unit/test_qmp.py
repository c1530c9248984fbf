"""The QMP client against a scripted monitor socket.

Real QEMU runs in tests/functional/qemu; what is scripted here is a
quirk that real QEMU shows only by chance (seen during the benchmarks): it
keeps what it could not send to the client that just hung up, an event
emitted at that moment, and sends it to the next client, ahead of the
greeting or after it.
"""

import os

import pytest

from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watcher_io
from tests.unit import scripted_monitor

GREETING = scripted_monitor.GREETING
STALE_EVENT = {'event': 'MIGRATION', 'data': {'status': 'active'},
               'timestamp': {'seconds': 1, 'microseconds': 0}}
RUNNING = {'status': 'running'}


def serve(path, first_lines, answers=None):
    """Sends first_lines, then answers each command with answers[command],
    else RUNNING."""
    return scripted_monitor.serve(path, lambda m: [scripted_monitor.answer(
        m, (answers or {}).get(m['execute'], RUNNING))], first_lines)


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


def test_stale_events_after_the_greeting_are_not_this_session_s(sock_path):
    """QEMU sends a client no event before its capabilities are
    negotiated, yet the previous client's unsent one can come after the
    greeting: a wait that took a stale pre-switchover for news held on a
    migration long completed, for its whole 3 s bound."""
    stale = dict(STALE_EVENT, data={'status': 'pre-switchover'})
    serve(sock_path, [GREETING, stale])
    with qmp.QMPClient(sock_path, timeout=5) as q:
        assert q.events == []


def test_the_watchers_monitor_drops_them_and_a_stale_reply_too(sock_path):
    """The watchers' own session (watcher_io.Monitor) alike; and a reply
    the previous client never read is not taken for this one's."""
    serve(sock_path, [GREETING, STALE_EVENT, {'return': {}, 'id': 99}],
          answers={'qmp_capabilities': {}})
    q = watcher_io.Monitor(sock_path, timeout=5)
    try:
        assert q.events == []
        assert q.execute('query-status') == {'status': 'running'}
    finally:
        q.close()
