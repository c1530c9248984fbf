"""The ``qemu`` compute driver: real QEMU VMs driven over QMP."""

from move_orchestrator.drivers.compute.qemu.driver import QemuDriver

__all__ = ['QemuDriver']
