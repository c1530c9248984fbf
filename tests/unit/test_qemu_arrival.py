"""The arrival watcher (qemu/arrival.py) against a scripted destination
monitor: what it records when QEMU's RESUME comes after its last look.

Real QEMU sends RESUME before the incoming migration's ``completed`` or
with the ``cont`` that runs a paused guest, so the functional tests never
see it later; a destination slower to start its guest would.
"""

import json

from move_orchestrator.drivers.compute.qemu import arrival
from tests.unit import scripted_monitor

RESUME = scripted_monitor.event('RESUME', 250000)
ANSWERS = {'qmp_capabilities': {}, 'query-migrate': {'status': 'completed'},
           'query-status': {'status': 'running'}}


def serve(path, late_events):
    """A destination whose incoming migration completed: answers the
    watcher's looks, then sends late_events after its query-status."""
    def reply(message):
        command = message['execute']
        return [scripted_monitor.answer(message, ANSWERS[command])] + (
            list(late_events) if command == 'query-status' else [])
    return scripted_monitor.serve(path, reply)


def test_a_resume_after_the_last_look_is_recorded(tmp_path):
    sock = str(tmp_path / 'qmp.sock')
    serve(sock, [RESUME])
    (tmp_path / arrival.STATE).write_text('{}')
    why = arrival.watch(sock, str(tmp_path), 5, lambda: None)
    recorded = json.loads((tmp_path / arrival.ARRIVAL).read_text())
    assert why.startswith('arrived'), why
    assert recorded == {'status': 'arrived', 'resumed_at': 1700000000.25}


def test_no_resume_leaves_the_time_unknown(tmp_path):
    sock = str(tmp_path / 'qmp.sock')
    serve(sock, [])
    (tmp_path / arrival.STATE).write_text('{}')
    arrival.watch(sock, str(tmp_path), 5, lambda: None)
    recorded = json.loads((tmp_path / arrival.ARRIVAL).read_text())
    assert recorded == {'status': 'arrived', 'resumed_at': None}
