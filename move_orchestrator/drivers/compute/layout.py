"""Where a driver that keeps instances as files puts them, per host: a
directory per host and instance, and the disk in its storage group's
directory when the host shares storage with others. One layout (and the
disk operations that depend on nothing else) for the qemu and libvirt
drivers, so that a host's files look the same whichever runs it."""

import os

from move_orchestrator import exception

SHARED = '_shared'
DISK = 'disk.qcow2'


class StorageLayout:
    """Mixin; needs ``self.root``, ``self.opts.storage_groups`` and
    ``self.img`` (qemu-img)."""

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

    def resize_disk(self, instance_uuid, host, size_gb, shrink=False):
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            raise exception.DriverError(
                operation='resize_disk',
                reason='no disk for %s on %s' % (instance_uuid, host))
        self.img.grow(path, size_gb, operation='resize_disk', shrink=shrink)

    def _make_incoming_disk(self, spec, host):
        """The disk a live migration copies into on host, as large as the
        source says its disk is (``disk_bytes``: a host never looks at
        another's disks); the one there already is kept (shared storage, a
        re-run)."""
        path = self.disk_path(spec['uuid'], host)
        if os.path.exists(path):
            return
        if not spec.get('disk_bytes'):
            raise exception.DriverError(
                operation='prepare_incoming', reason='no disk of %s on %s, '
                'and no disk_bytes to make the copy target' % (spec['uuid'], host))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.img.create_like(path, spec['disk_bytes'])
