"""The hold of a migration's wait (qemu/paused.py) against a scripted
source monitor: events that came before QEMU's answer but say more than it.

The switch-over watcher continues a source at ``pre-switchover`` within a
millisecond, and the device state of a small guest follows in another, so
``device`` and ``completed`` can reach the wait's session ahead of the
answer to a ``query-migrate`` whose status was read before them. Not seen
with real QEMU (the 3 s holds the benchmark showed were a previous
session's event, test_qmp.py); scripted here, since a hold that dropped
them would wait its whole bound.
"""

import pytest

from move_orchestrator.drivers.compute.qemu import paused
from move_orchestrator.drivers.compute.qemu import qmp
from tests.unit import scripted_monitor

NOT_SEEN = 'the destination is not seen from here'


def migration(status):
    return scripted_monitor.event('MIGRATION', status=status)


def serve(path, answer, events_first):
    """A source monitor whose query-migrate answers ``answer`` after
    sending events_first; nothing else ever comes."""
    def reply(message):
        if message['execute'] != 'query-migrate':
            return [scripted_monitor.answer(message, {})]
        return list(events_first) + [
            scripted_monitor.answer(message, {'status': answer})]
    scripted_monitor.serve(path, reply)


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
