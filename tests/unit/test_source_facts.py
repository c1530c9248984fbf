"""A live migration's pre-check brings what its destination is built from
(the source's topology, its disk's size, whether the hosts share the disk)
in its round trip to the source, so PrepareIncoming asks the source
nothing: one round trip fewer to the source's agent with shared storage,
two without."""

import pytest

from move_orchestrator.drivers.compute import base
from move_orchestrator import faults


class Calls:
    """The driver as the steps see it, its operations named in order as
    they are called: the real driver acts."""

    def __init__(self, driver, names):
        object.__setattr__(self, '_driver', driver)
        object.__setattr__(self, '_names', names)

    def __getattr__(self, name):
        value = getattr(self._driver, name)
        if name.startswith('_') or not callable(value):
            return value

        def called(*args, **kwargs):
            self._names.append(name)
            return value(*args, **kwargs)
        return called

    def __setattr__(self, name, value):
        setattr(self._driver, name, value)


@pytest.fixture
def traced(make_cloud, monkeypatch):
    """A cloud whose driver calls are named in order, with a mark where
    PrepareIncoming starts and ends."""
    cloud = make_cloud()
    names = []
    cloud.services._driver = Calls(cloud.services.driver, names)
    marks = ['PrepareIncoming.execute.before', 'PrepareIncoming.execute.after']
    cloud.services.task_faults = faults.parse([m + '=slow' for m in marks])
    monkeypatch.setattr(faults, 'trigger', lambda point, action: names.append(point))
    return cloud, names


def _between(names, first, last):
    return names[names.index(first) + 1:names.index(last)]


def test_prepare_incoming_asks_the_source_nothing(traced):
    cloud, names = traced
    doc = cloud.move('vm1', destination='host3')
    assert (doc['type'], doc['state']) == ('live-migrate', 'completed'), \
        doc['reason']
    # Before, topology and shares_storage at once, then describe_host for
    # the disk's size (the fake's hosts share no storage), then accept.
    assert _between(names, 'PrepareIncoming.execute.before',
                    'PrepareIncoming.execute.after') == ['accept_migration']
    [check] = [s for s in doc['subtasks'] if s['name'] == 'CheckInstance']
    facts = check['result']
    assert facts['shared'] is False and facts['disk_bytes'] == 20 << 30
    assert facts['topology']['max_vcpus'] >= 1
    # The destination was built from them: its disk as large as the source's.
    assert cloud.world('vm1')['disks']['host3']['size_gb'] == 20
    assert cloud.audit() == []


def test_a_cold_move_asks_no_facts(traced):
    cloud, names = traced
    doc = cloud.move('vm1', destination='host3', live=False)
    assert (doc['type'], doc['state']) == ('cold-migrate', 'completed'), \
        doc['reason']
    assert 'topology' not in names
    [check] = [s for s in doc['subtasks'] if s['name'] == 'CheckInstance']
    assert check['result'] is None
    assert cloud.world('vm1')['domains']['host3']['state'] == base.RUNNING
