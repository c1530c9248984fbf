"""The driver port's at_once: operations that do not depend on each other.
In process they run one after the other; the rpc driver's are round trips
to the agents, made together."""

import threading
import time

import pytest

from move_orchestrator.conf import CONF
from move_orchestrator.drivers.compute import fake
from move_orchestrator.drivers.compute import rpc


@pytest.fixture
def rpc_driver():
    driver = rpc.RpcDriver(CONF)
    yield driver
    driver.close()


def test_the_rpc_driver_makes_its_calls_together(rpc_driver):
    # Each call waits for the other: one after the other, both would fail.
    both = threading.Barrier(2, timeout=10)

    def meeting(answer):
        both.wait()
        return answer

    assert rpc_driver.at_once(lambda: meeting(1), lambda: meeting(2)) == [1, 2]


def test_the_first_error_is_raised_once_every_call_ended(rpc_driver):
    ended = threading.Event()
    release = threading.Event()

    def slow():
        release.wait(10)
        # Long after the failure: a driver that did not wait raised by now.
        time.sleep(0.2)
        ended.set()
        return 'slow'

    def failing():
        release.set()
        raise KeyError('failing')

    with pytest.raises(KeyError):
        rpc_driver.at_once(failing, slow)
    assert ended.is_set()


def test_an_in_process_driver_runs_them_in_order():
    order = []
    driver = fake.FakeDriver(CONF)
    assert driver.at_once(lambda: order.append(1) or 'a',
                          lambda: order.append(2) or 'b') == ['a', 'b']
    assert order == [1, 2]
