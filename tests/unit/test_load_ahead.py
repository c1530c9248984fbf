"""The cleanup stage loaded while the point-of-no-return step runs."""

import threading
import types

from taskflow import engines
from taskflow.patterns import linear_flow
from taskflow import task

from move_orchestrator.conductor import ahead as ahead_mod
from move_orchestrator.steps import base as steps_base

WAIT = 30   # seconds: a bound for a hung test, never a measure


class Copy(task.Task):
    """Reports the progresses it is given, then waits for ``until``."""

    def __init__(self, progresses, until, **kwargs):
        super().__init__(**kwargs)
        self._progresses = progresses
        self._until = until

    def execute(self):
        for progress in self._progresses:
            self.update_progress(progress)
        return self._until.wait(WAIT)


def _run(progresses, load, wait=True):
    """The step waits for the load to end (``wait``), or not at all."""
    loaded = threading.Event()

    def load_and_tell():
        try:
            return load()
        finally:
            loaded.set()
    until = loaded
    if not wait:
        until = threading.Event()
        until.set()
    flow = linear_flow.Flow('main').add(
        Copy(progresses, until, name='TransferMemory'))
    engine = engines.load(flow, engine='serial')
    ahead = ahead_mod.StageAhead(load_and_tell, 'TransferMemory', 'm')
    with ahead.listener(engine):
        engine.run()
    return engine, ahead


def test_loaded_while_the_step_runs_from_its_first_progress():
    engine, ahead = _run([0.5, 0.7], lambda: 'engine')
    # The step waited for the load: it ran while the step did.
    assert engine.storage.get('TransferMemory') is True
    assert ahead.take() == 'engine'
    assert ahead.take() is None     # handed over once


def test_not_loaded_on_taskflows_own_progress():
    loads = []
    engine, ahead = _run([0.0, 1.0], lambda: loads.append(1), wait=False)
    assert ahead.take() is None
    assert loads == []


def test_a_failed_load_is_dropped():
    def load():
        raise RuntimeError('the database is away')
    engine, ahead = _run([0.5], load)
    assert engine.storage.get('TransferMemory') is True
    assert ahead.take() is None


def test_a_load_under_way_is_waited_for():
    release = threading.Event()
    started = threading.Event()

    def slow():
        started.set()
        release.wait(WAIT)
        return 'engine'
    flow = linear_flow.Flow('main').add(
        Copy([0.5], started, name='TransferMemory'))
    engine = engines.load(flow, engine='serial')
    ahead = ahead_mod.StageAhead(slow, 'TransferMemory', 'm')
    with ahead.listener(engine):
        engine.run()
    threading.Timer(0.05, release.set).start()
    assert ahead.take() == 'engine'


class Copying(steps_base.MoveStep):
    """A step whose wait begins at once and reports no progress, as a
    copy shorter than the progress report interval."""
    phase = 'transfer'

    def __init__(self, services, until, **kwargs):
        super().__init__(services, **kwargs)
        self._until = until

    def execute(self):
        self.under_way()
        return self._until.wait(WAIT)


def test_loaded_once_the_step_says_it_is_under_way_without_a_progress():
    loaded = threading.Event()

    def load():
        loaded.set()
        return 'engine'
    step = Copying(types.SimpleNamespace(task_faults=None), loaded,
                   name='TransferMemory')
    engine = engines.load(linear_flow.Flow('main').add(step), engine='serial')
    ahead = ahead_mod.StageAhead(load, 'TransferMemory', 'm')
    with ahead.listener(engine):
        engine.run()
    # The step waited for the load: it ran while the step did.
    assert engine.storage.get('TransferMemory') is True
    assert ahead.take() == 'engine'
    # The listener let go of the step's notifier.
    assert len(step.notifier) == 0
