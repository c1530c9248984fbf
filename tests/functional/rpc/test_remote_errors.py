"""A typed error raised by a server reaches every client of ours as the
class the server raised, its str() one line; the server's traceback stays
in the server's log (oslo.messaging's own subclass would append it)."""

import uuid

import pytest

from move_orchestrator.drivers import compute
from move_orchestrator import exception
from tests.functional.rpc import harness


def _one_line(error, cls):
    assert type(error) is cls, type(error).__mro__
    text = str(error)
    assert text == error.message
    assert '\n' not in text and 'Traceback' not in text, text


def test_the_conductors_client(api, admin):
    missing = str(uuid.uuid4())
    with pytest.raises(exception.TaskNotFound) as err:
        api.get_task(admin, missing)
    _one_line(err.value, exception.TaskNotFound)
    # prepare() as a caller may use it directly.
    with pytest.raises(exception.TaskNotFound) as err:
        api.client.prepare(version='1.0').call(admin, 'get_task',
                                               task_id=missing)
    _one_line(err.value, exception.TaskNotFound)


def test_a_compute_agents_client(tmp_path, admin):
    """The rpc compute driver's client of a real agent: a power_on of a
    domain the agent's driver does not have is its DriverError."""
    db_url = 'sqlite:///%s' % (tmp_path / 'mo.db')
    with harness.private_vhost() as url, harness.agent_process(
            tmp_path, url, db_url, 'compute-e') as config:
        driver = compute.load_driver('rpc', conf=harness.load_conf(config))
        try:
            with pytest.raises(exception.DriverError) as err:
                driver.power_on(str(uuid.uuid4()), 'compute-e')
        finally:
            driver.close()
    _one_line(err.value, exception.DriverError)
    assert err.value.kwargs['operation'] == 'power_on'
