"""Where a driver that keeps instances as files puts them, per host: a
directory per host and instance, and the disk in its storage group's
directory when the host shares storage with others. One layout for the
qemu and libvirt drivers, so that a host's files look the same whichever
runs it."""

import os

SHARED = '_shared'
DISK = 'disk.qcow2'


class StorageLayout:
    """Mixin; needs ``self.root`` and ``self.opts.storage_groups``."""

    def _group(self, host):
        return self.opts.storage_groups.get(host)

    def storage_group(self, host):
        return self._group(host)

    def shares_storage(self, source, dest):
        """Whether both hosts reach one disk file."""
        return source == dest or (self._group(source) is not None
                                  and self._group(source) == self._group(dest))

    def _host_dir(self, instance_uuid, host):
        return os.path.join(self.root, host, instance_uuid)

    def _disks_dir(self, host):
        """Where host's disks are: its group's, or its own directory."""
        group = self._group(host)
        return (os.path.join(self.root, SHARED, group) if group
                else os.path.join(self.root, host))

    def _disk_dir(self, instance_uuid, host):
        return os.path.join(self._disks_dir(host), instance_uuid)

    def disk_path(self, instance_uuid, host):
        return os.path.join(self._disk_dir(instance_uuid, host), DISK)
