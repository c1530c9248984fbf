"""The ``libvirt`` compute driver: libvirt domains, moved by libvirt."""

from move_orchestrator.drivers.compute.libvirt.driver import LibvirtDriver

__all__ = ['LibvirtDriver']
