"""Network drivers: the port between move steps and port bindings.

A binding belongs to an instance on a host; one is active (where the
instance's traffic goes). Activation concerns every host of the instance at
once, so it is the network service's (Neutron's, in a real cloud), reached
by the conductor, never something one compute host does to the others.
"""

from oslo_utils import importutils

from move_orchestrator.conf import CONF

DRIVERS = {'fake': 'move_orchestrator.drivers.network.fake.FakeNetworkDriver'}


def load_driver(name=None, conf=CONF):
    return importutils.import_object(DRIVERS[name or conf.network.driver], conf)
