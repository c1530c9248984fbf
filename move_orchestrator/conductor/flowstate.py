"""Steering a persisted flow before its engine runs it again.

TaskFlow resumes a flow detail as it finds it: atoms that succeeded are
skipped, atoms left running are run again. Rolling back instead, retrying a
failed flow, or finishing a failed revert need the atoms marked first; these
functions do that on a prepared engine's storage (persisted at once).
"""

from taskflow import atom as tf_atom
from taskflow import retry
from taskflow import states as tf_states

from move_orchestrator import exception

# Atoms whose revert must run when rolling back.
_UNDONE = (tf_states.RUNNING, tf_states.FAILURE, tf_states.REVERT_FAILURE)


def atoms(engine):
    return [node for node in engine.compilation.execution_graph.nodes
            if isinstance(node, tf_atom.Atom)]


def atom_names(engine):
    return [atom.name for atom in atoms(engine)]


def atom_states(engine):
    return {name: engine.storage.get_atom_state(name)
            for name in atom_names(engine)}


def check_compatible(engine, stored_names, move_id):
    """The stored atoms must be the flow's: a changed flow cannot resume."""
    current = set(atom_names(engine))
    # TaskFlow keeps the injected store as an atom of its own.
    stored = {n for n in stored_names if not n.startswith('_TaskFlow_')}
    if not stored <= current:
        raise exception.InvalidTaskAction(
            task=move_id, action='resumed',
            reason='its flow definition changed (stored steps %s are no '
                   'longer in the flow)'
                   % ', '.join(sorted(stored - current)))


def mark_for_rollback(engine):
    """Every atom that ran (or was running) reverts; pending ones stay.

    TaskFlow reverts an atom that succeeded, so one left running is set to
    SUCCESS, in a commit of its own: after its REVERT intention, so that a
    kill between the two never leaves a step that did not finish recorded
    as succeeded and going forward (the next conductor would take the
    point-of-no-return step for done, and roll the move forward).
    """
    storage = engine.storage
    for name, state in atom_states(engine).items():
        if state != tf_states.PENDING:
            storage.set_atom_intention(name, tf_states.REVERT)
        if state in _UNDONE:
            storage.set_atom_state(name, tf_states.SUCCESS)


def succeeded(engine, name):
    """The atom ran to its end: SUCCESS that mark_for_rollback did not set."""
    return (engine.storage.get_atom_state(name) == tf_states.SUCCESS
            and engine.storage.get_atom_intention(name) == tf_states.EXECUTE)


def reset_for_retry(engine):
    """Everything that did not succeed runs again, from the first of them.

    Retry controllers forget their history, so a retried cleanup gets all
    its attempts again.
    """
    storage = engine.storage
    for atom in atoms(engine):
        if isinstance(atom, retry.Retry):
            storage.cleanup_retry_history(atom.name, tf_states.PENDING)
            storage.set_atom_intention(atom.name, tf_states.EXECUTE)
        else:
            if storage.get_atom_state(atom.name) != tf_states.SUCCESS:
                storage.set_atom_state(atom.name, tf_states.PENDING)
            # A failed revert left the atoms it had not reached marked
            # to revert: they go forward again too.
            storage.set_atom_intention(atom.name, tf_states.EXECUTE)


def revert_failed(engine):
    """The names of atoms whose revert failed (TaskFlow may still call the
    flow REVERTED after a resumed run: it does not retry those reverts)."""
    return [n for n, s in atom_states(engine).items()
            if s == tf_states.REVERT_FAILURE]


def provided(flow_detail, steps):
    """{name: result} of what ``steps`` (a stage's, as its type declares
    them) provided and stored in ``flow_detail``: each stage is an engine
    of its own whose store is the move's record, and a step of the next
    stage may need one (SwitchOverMigration, the migration TransferMemory
    followed to its end)."""
    names = {step.cls.__name__: step.cls.default_provides for step in steps
             if isinstance(step.cls.default_provides, str)}
    return {names[ad.name]: ad.results for ad in flow_detail or ()
            if ad.name in names and ad.state == tf_states.SUCCESS}
