"""Compute drivers: the port between move tasks and hypervisor hosts."""

from stevedore import driver as stevedore_driver

from move_orchestrator.conf import CONF

NAMESPACE = 'move_orchestrator.compute_drivers'


def load_driver(name=None, conf=CONF):
    name = name or conf.compute.driver
    mgr = stevedore_driver.DriverManager(
        NAMESPACE, name, invoke_on_load=True, invoke_kwds={'conf': conf})
    return mgr.driver
