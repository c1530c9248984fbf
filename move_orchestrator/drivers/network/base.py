"""The network driver interface: an instance's port bindings per host."""

import abc


class NetworkDriver(metaclass=abc.ABCMeta):

    def __init__(self, conf):
        self.conf = conf

    @abc.abstractmethod
    def bindings(self, instance_uuid):
        """``{host: active}`` of the instance's bindings."""

    @abc.abstractmethod
    def bind_ports(self, instance_uuid, host):
        """Create an inactive binding on host (idempotent)."""

    @abc.abstractmethod
    def activate_binding(self, instance_uuid, host):
        """Make host's binding the active one; the others become inactive
        (in one transaction where the driver can: never none active)."""

    @abc.abstractmethod
    def unbind_ports(self, instance_uuid, host):
        """Remove host's binding; False when there was none."""
