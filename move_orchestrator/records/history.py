"""Sub-task history written in the same transaction as the atom it records.

A save hook of our persistence backend: when TaskFlow saves an atom detail
of a running move, the event row (state change, progress, error) is
inserted through the same connection, so history and atom state commit or
vanish together, even when the process is killed between two saves. What
was last written per atom (to skip a save that changes nothing) is
remembered once the save committed: a save retried after a lost commit
writes its rows again, and starts its step's state again (``on_start``).
"""

import threading

from taskflow import states as tf_states

from move_orchestrator.db import moves
from move_orchestrator import redact
_ERROR_STATES = (tf_states.FAILURE, tf_states.REVERT_FAILURE)


def failure_to_dict(failure):
    """The error as the task shows it: a driver's message may quote a URL
    (a daemon's, a broker's), whose password never reaches the record."""
    if failure is None:
        return None
    names = failure.to_dict().get('exc_type_names') or ['Exception']
    return {'type': names[0].rsplit('.', 1)[-1],
            'message': redact.text(failure.exception_str),
            'traceback': redact.text(failure.traceback_str)}


def masked(value):
    """A step's result as the task shows it: every string without a
    password (an address a host answered, say)."""
    if isinstance(value, str):
        return redact.text(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


class AtomHistoryWriter:
    def __init__(self):
        self._flows = {}      # fd uuid -> (move id, phase of, on_start)
        self._ends = {}       # fd uuid -> on_end
        self._last = {}       # atom uuid -> (state, progress) last committed
        self._lock = threading.Lock()

    def register(self, flow_uuid, move_id, phase_of, on_start=None,
                 on_end=None):
        """Write the history of a flow's atoms as they are saved.

        ``on_start(save, atom_detail)``, if given, is called when an atom
        starts (goes RUNNING), inside the transaction that saves it (the
        backend's ``Save``): what it writes through ``save.connection`` (the
        move's state, say) commits with the step's start, in one commit.
        ``on_end(save, flow_detail)`` likewise when the flow detail itself
        is written (its end state; a backend flow hook, :meth:`flow_saved`).
        """
        with self._lock:
            self._flows[flow_uuid] = (move_id, phase_of, on_start)
            if on_end is not None:
                self._ends[flow_uuid] = on_end

    def unregister(self, flow_uuid, atom_uuids=()):
        with self._lock:
            self._flows.pop(flow_uuid, None)
            self._ends.pop(flow_uuid, None)
            for uuid in atom_uuids:
                self._last.pop(uuid, None)

    def flow_saved(self, save, flow_detail):
        with self._lock:
            on_end = self._ends.get(flow_detail.uuid)
        if on_end is not None:
            on_end(save, flow_detail)

    def _written(self, save, flow_uuid):
        """What this save wrote so far, per atom: committed into
        ``_last`` with it (a flow still registered only)."""
        written = save.notes.get(self)
        if written is None:
            written = save.notes[self] = {}

            def _committed():
                with self._lock:
                    if flow_uuid in self._flows:
                        self._last.update(written)
            save.after_commit(_committed)
        return written

    def __call__(self, save, atom_detail, flow_uuid):
        with self._lock:
            flow = self._flows.get(flow_uuid)
            last = self._last.get(atom_detail.uuid, (None, None))
        if flow is None:
            return
        move_id, phase_of, on_start = flow
        written = self._written(save, flow_uuid)
        state = atom_detail.state
        progress = (atom_detail.meta or {}).get('progress')
        last_state, last_progress = written.get(atom_detail.uuid, last)
        if state == tf_states.PENDING and last_state is None:
            return  # created, not run: no history yet
        if state == last_state:
            if state != tf_states.RUNNING or progress == last_progress \
                    or progress in (None, 0.0, 1.0):
                return
            state_name = 'PROGRESS'
        else:
            state_name = state
        error = None
        if state in _ERROR_STATES and state_name == state:
            error = failure_to_dict(atom_detail.failure
                                    if state == tf_states.FAILURE
                                    else atom_detail.revert_failure)
        detail = None
        if state_name == tf_states.SUCCESS and isinstance(atom_detail.results, dict):
            # What a step found (a live migration's figures, say): shown
            # with the sub-task.
            detail = {'result': masked(atom_detail.results)}
        moves.insert_event(
            save.connection, move_id, 'subtask', atom_detail.name,
            phase_of(atom_detail.name), state_name, detail=detail,
            progress=progress if state_name == 'PROGRESS' else None,
            error=error)
        written[atom_detail.uuid] = (state, progress)
        if on_start is not None and state_name == tf_states.RUNNING:
            on_start(save, atom_detail)
