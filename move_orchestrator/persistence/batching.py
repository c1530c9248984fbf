"""Commit batching: which saves wait for a flow's next commit.

Only the saves that come before a side effect are committed on their own:
an atom going RUNNING or REVERTING (its execute or revert follows), an
intermediate progress (a long task's progress stays visible), a flow detail
reaching an end state (SUCCESS, REVERTED, FAILURE, SUSPENDED), new rows.
Every other save (an atom's SUCCESS with its results, FAILURE, REVERTED,
PENDING, a new intention, progress 0.0 or 1.0, a flow going RUNNING) rides
along with the next committed save of the same flow detail, which in a
serial engine is the next atom starting or the flow ending, or
``Backend.close``. So one step costs one commit, and the rule TaskFlow's
resumption needs still holds: what a step did is committed before the next
step acts. A kill between the two loses the deferred save: the atom is
found as it was committed (RUNNING) and runs (or reverts) again, which
steps must bear anyway (at-least-once).

Deciding needs what was last committed, so ``Cache`` remembers it per flow
detail, with the deferred saves. That memory assumes one writer per flow
detail at a time, which TaskFlow's job claims (or a single engine) ensure;
writers change over time (a move taken over, then taken back), so a whole
read of a flow (what an engine loads to run it) drops the memory of it.
"""

import collections
import threading

from taskflow.persistence import models
from taskflow import states

from move_orchestrator.persistence import tables as t

# Flows whose rows we remember; past it, idle flows are forgotten.
MAX_CACHED_FLOWS = 2000
DEFERRED_PROGRESS = (0.0, 1.0)
TERMINAL_FLOW_STATES = frozenset([states.SUCCESS, states.REVERTED,
                                  states.FAILURE])
# Flow states committed at once: the engine stops after them.
END_FLOW_STATES = TERMINAL_FLOW_STATES | {states.SUSPENDED}
# Atom states that an execute or a revert follows: committed at once.
_ACTING_STATES = frozenset([states.RUNNING, states.REVERTING])


def _without_progress(meta):
    return t.dumps({k: v for k, v in (meta or {}).items() if k != 'progress'})


def progress_only(old, new, new_meta):
    """True if ``new`` differs from ``old`` only by a deferrable progress."""
    if old['meta'] == new['meta'] or new_meta.get('progress') not in DEFERRED_PROGRESS:
        return False
    if any(old[k] != new[k] for k in t.ATOM_VALUES if k != 'meta'):
        return False
    return _without_progress(t.loads(old['meta'])) == _without_progress(new_meta)


def deferrable(old, new, new_meta, retry=False):
    """True if this atom save may wait for the flow detail's next commit.

    A retry controller's RUNNING may: what it runs (choosing the next
    try) touches nothing outside TaskFlow's own rows.
    """
    if retry and new['state'] == states.RUNNING:
        return True
    if new['state'] in _ACTING_STATES:
        return progress_only(old, new, new_meta)
    # A progress report in between: shown at once.
    return (old['meta'] == new['meta']
            or (new_meta or {}).get('progress') in (None,) + DEFERRED_PROGRESS)


def overlay(row, deferred):
    """A stored row with a deferred save's values over it."""
    if deferred is None:
        return row
    return dict(row, **deferred)


class Cache:
    """What this backend last committed (or deferred), per flow detail."""

    def __init__(self):
        self.lock = threading.Lock()
        self.flows = collections.OrderedDict()  # fd uuid -> flow row
        self.complete = set()                   # fds whose atoms are all known
        self.atoms = {}                         # ad uuid -> (fd uuid, row)
        self.children = {}                      # fd uuid -> {ad uuid}
        # Deferred saves, per fd uuid, in order: [(ad uuid, row, ad,
        # progress only)]; a flow row (ad uuid None) only as the first
        # entry.
        self.pending = {}

    def defer_atom(self, ad, row):
        """(deferred, its flow detail's uuid if known): whether the atom
        save waits for the flow's next commit (then it is queued)."""
        with self.lock:
            fd_uuid, old = self.atoms.get(ad.uuid, (None, None))
            if old is None or not deferrable(
                    old, row, ad.meta, isinstance(ad, models.RetryDetail)):
                return False, fd_uuid
            if old != row:
                self.atoms[ad.uuid] = (fd_uuid, row)
                self.defer(fd_uuid, ad.uuid, row, ad.copy(),
                           progress_only(old, row, ad.meta))
            return True, fd_uuid

    def defer_flow(self, fd):
        """Whether a flow detail save waits (then it is queued): only one
        that changes a non-end state (or meta) of a flow whose atoms are
        all known and unchanged."""
        if fd.state in END_FLOW_STATES:
            return False
        row = t.flow_row(fd)
        with self.lock:
            old = self.flows.get(fd.uuid)
            if old is None or fd.uuid not in self.complete:
                return False
            for ad in fd:
                known = self.atoms.get(ad.uuid, (None, None))[1]
                if known is None or known != t.atom_row(ad):
                    return False
            if old != row:
                self.flows[fd.uuid] = row
                self.defer(fd.uuid, None, row, None)
        return True

    def defer(self, fd_uuid, ad_uuid, row, ad, progress_only=False):
        entries = self.pending.setdefault(fd_uuid, [])
        if ad_uuid is None:
            if entries and entries[0][0] is None:
                entries[0] = (None, row, None, False)
            else:
                entries.insert(0, (None, row, None, False))
            return
        last = entries[-1] if entries else None
        if last is not None and last[0] == ad_uuid and (
                last[3] or progress_only
                or (last[1]['state'], last[1]['intention'])
                == (row['state'], row['intention'])):
            # The same step again with only newer values (or after a
            # progress of 0.0 or 1.0, which nobody reads): one save.
            entries[-1] = (ad_uuid, row, ad, progress_only and last[3])
        else:
            entries.append((ad_uuid, row, ad, progress_only))

    def pending_entries(self, fd_uuid):
        """The deferred saves of a flow, in order (a copy)."""
        with self.lock:
            return list(self.pending.get(fd_uuid, ()))

    def flushed(self, fd_uuid, entries):
        """Called with the lock held once ``entries`` committed: saves
        deferred while they committed stay pending."""
        left = self.pending.get(fd_uuid)
        if left is None:
            return
        done = set(map(id, entries))
        left[:] = [e for e in left if id(e) not in done]
        if not left:
            del self.pending[fd_uuid]

    def pending_rows(self, fd_uuid):
        """{ad uuid (None: the flow): latest deferred row} of a flow."""
        return {entry[0]: entry[1] for entry in self.pending.get(fd_uuid, ())}

    def clear(self):
        with self.lock:
            self.flows.clear()
            self.complete.clear()
            self.atoms.clear()
            self.children.clear()

    def forget_flow(self, fd_uuid):
        self.flows.pop(fd_uuid, None)
        self.complete.discard(fd_uuid)
        for ad_uuid in self.children.pop(fd_uuid, ()):
            self.atoms.pop(ad_uuid, None)

    def trim(self):
        while len(self.flows) > MAX_CACHED_FLOWS:
            for fd_uuid in self.flows:
                if fd_uuid not in self.pending:
                    self.forget_flow(fd_uuid)
                    break
            else:
                return
