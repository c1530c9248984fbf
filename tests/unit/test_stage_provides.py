"""What the cleanup stage's steps see of the main stage's results."""

from taskflow.persistence import models
from taskflow import states as tf_states

from move_orchestrator.conductor import flowstate
from move_orchestrator.moves import types as move_types
from move_orchestrator.moves.types import base as types_base


def _detail(name, state, results):
    ad = models.TaskDetail(name, uuid=name)
    ad.state, ad.results = state, results
    return ad


def test_the_main_stage_results_are_named_as_their_steps_provide_them():
    live = move_types.get('live-migrate')
    fd = models.FlowDetail('main', uuid='fd')
    fd.add(_detail('CheckInstance', tf_states.SUCCESS, {'shared': True}))
    fd.add(_detail('PrepareIncoming', tf_states.FAILURE, {'uri': 'x'}))
    fd.add(_detail('TransferMemory', tf_states.SUCCESS, {'status': 'completed'}))
    fd.add(_detail('CheckDestination', tf_states.SUCCESS, None))
    provided = flowstate.provided(fd, live.stage_steps(types_base.MAIN))
    # A failed step provided nothing; a step that provides no name is left out.
    assert provided == {'source_facts': {'shared': True},
                        'migration': {'status': 'completed'}}


def test_a_stage_never_run_provides_nothing():
    live = move_types.get('live-migrate')
    assert flowstate.provided(None, live.stage_steps(types_base.MAIN)) == {}


def test_switch_over_takes_the_migration_the_memory_copy_provides():
    live = move_types.get('live-migrate')
    main = [s.cls.__name__ for s in live.stage_steps(types_base.MAIN)]
    cleanup = [s.cls for s in live.stage_steps(types_base.CLEANUP)]
    assert main[-1] == 'TransferMemory'
    switch = [c for c in cleanup if c.__name__ == 'SwitchOverMigration'][0]
    assert 'migration' in switch(None).optional
