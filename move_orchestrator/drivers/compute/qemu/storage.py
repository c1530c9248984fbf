"""qcow2 disks through qemu-img.

Every write goes to a temporary file renamed into place, so a disk either
exists whole or not at all, and a re-run after a crash just does it again.
Reads use ``-U`` (force-share): the disk may be open by a running QEMU.
"""

import json
import os
import struct
import subprocess

from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator import exception

GIB = 1 << 30
QCOW2_MAGIC = b'QFI\xfb'


class QemuImg:

    def __init__(self, binary='qemu-img', timeout=600):
        self.binary = binary
        self.timeout = timeout

    def _run(self, operation, *args):
        argv = [self.binary] + list(args)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise exception.DriverError(
                operation=operation,
                reason='%s not found: %s' % (self.binary, process.INSTALL_HINT))
        return proc

    def _check(self, operation, *args):
        proc = self._run(operation, *args)
        if proc.returncode:
            raise exception.DriverError(
                operation=operation, reason=proc.stderr.strip() or proc.stdout.strip())
        return proc.stdout

    def virtual_size(self, path):
        """The disk's virtual size in bytes.

        A qcow2 disk says it in its header (big-endian u64 at offset 24),
        which describe() reads for every disk: no qemu-img process for that.
        """
        try:
            with open(path, 'rb') as f:
                header = f.read(32)
        except FileNotFoundError:
            header = b''
        if len(header) == 32 and header[:4] == QCOW2_MAGIC:
            return struct.unpack('>Q', header[24:32])[0]
        out = self._check('disk_info', 'info', '-U', '--output=json', path)
        return json.loads(out)['virtual-size']

    def create(self, path, size_gb, image=None):
        """Create path from image (a file) or blank, sized size_gb."""
        tmp = path + '.part'
        process.remove(tmp)
        if image:
            self._check('create_disk', 'convert', '-U', '-O', 'qcow2', image, tmp)
            self.grow(tmp, size_gb, operation='create_disk')
        else:
            self._check('create_disk', 'create', '-q', '-f', 'qcow2', tmp,
                        str(int(size_gb * GIB)))
        os.replace(tmp, path)

    def create_like(self, path, size_bytes):
        """An empty qcow2 of the given virtual size (a mirror target)."""
        tmp = path + '.part'
        process.remove(tmp)
        self._check('create_disk', 'create', '-q', '-f', 'qcow2', tmp, str(size_bytes))
        os.replace(tmp, path)

    def copy(self, source, dest, size_gb, source_format=None, operation='copy_disk'):
        """dest (qcow2) from source (a file, or an NBD URI with its format)."""
        tmp = dest + '.part'
        process.remove(tmp)
        fmt = ['-f', source_format] if source_format else []
        try:
            self._check(operation, 'convert', '-U', *fmt, '-O', 'qcow2', source, tmp)
            self.grow(tmp, size_gb, operation=operation)
        except Exception:
            process.remove(tmp)
            raise
        os.replace(tmp, dest)

    def grow(self, path, size_gb, operation='resize_disk', shrink=False):
        """Grow to size_gb; equal is a no-op and shrinking is refused,
        unless ``shrink`` (giving back the space a grow added, on a revert:
        whatever the guest wrote there is lost)."""
        want = int(size_gb * GIB)
        have = self.virtual_size(path)
        if want < have and not shrink:
            raise exception.DriverError(
                operation=operation,
                reason='cannot shrink %s from %d to %d bytes' % (path, have, want))
        if want > have:
            self._check(operation, 'resize', '-q', path, str(want))
        elif want < have:
            self._check(operation, 'resize', '-q', '--shrink', path, str(want))

    def compare(self, a, b):
        """True when both disks hold the same data (qemu-img compare)."""
        proc = self._run('compare_disks', 'compare', '-U', a, b)
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        raise exception.DriverError(operation='compare_disks',
                                    reason=proc.stderr.strip())
