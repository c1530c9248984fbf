"""A disk exported read-only over NBD by qemu-nbd, for a peer to copy.

The export binds to the host's address (``[qemu] host_address``) on a free
port; its pid and URI are kept beside the disk's domain files, so an export
left by a crash (the conductor died between export and unexport) is found
and stopped by the next call, from whichever process makes it.
"""

import errno
import os
import signal
import socket
import subprocess
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator import exception

LOG = logging.getLogger(__name__)
ATTEMPTS = 5    # ports taken between our probe and qemu-nbd's bind


def free_port(address):
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def nbd_uri(address, port):
    return 'nbd://%s:%d' % ('[%s]' % address if ':' in address else address, port)


class Exports:

    def __init__(self, binary, address, timeout):
        self.binary = binary
        self.address = address
        self.timeout = timeout

    @staticmethod
    def _state(state_dir):
        return os.path.join(state_dir, 'nbd.json')

    def _alive(self, state_dir, disk):
        """The running export's record, or None (a dead one's is removed)."""
        rec = process.read_json(self._state(state_dir))
        if rec is None:
            return None
        cmdline = procfs.cmdline(rec['pid'])
        if b'qemu-nbd' in cmdline and disk.encode() in cmdline:
            return rec
        process.remove(self._state(state_dir))
        return None

    def start(self, state_dir, disk):
        """The URI of a read-only export of disk (the running one's, if any)."""
        rec = self._alive(state_dir, disk)
        if rec is not None:
            return rec['uri']
        os.makedirs(state_dir, exist_ok=True)
        pidfile = os.path.join(state_dir, 'nbd.pid')
        for _attempt in range(ATTEMPTS):
            port = free_port(self.address)
            process.remove(pidfile)
            argv = [self.binary, '--read-only', '--shared=4', '--persistent',
                    '--fork', '--format=qcow2', '--bind=%s' % self.address,
                    '--port=%d' % port, '--pid-file=%s' % pidfile, disk]
            try:
                proc = subprocess.run(argv, capture_output=True, text=True,
                                      timeout=self.timeout, stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise exception.DriverError(
                    operation='export_disk',
                    reason='%s not found: %s' % (self.binary, process.INSTALL_HINT))
            if proc.returncode == 0:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
                uri = nbd_uri(self.address, port)
                process.write_json(self._state(state_dir), {'pid': pid, 'uri': uri})
                LOG.info('Disk %s exported read-only at %s', disk, uri)
                return uri
            if 'in use' not in proc.stderr:
                break
        raise exception.DriverError(operation='export_disk',
                                    reason=proc.stderr.strip() or 'qemu-nbd failed')

    def stop(self, state_dir, disk):
        """Stop the export; False when none ran."""
        rec = self._alive(state_dir, disk)
        if rec is None:
            return False
        deadline = time.monotonic() + self.timeout
        sig = signal.SIGTERM
        while self._alive(state_dir, disk) is not None:
            try:
                os.kill(rec['pid'], sig)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
            if time.monotonic() > deadline:
                sig = signal.SIGKILL
            time.sleep(0.01)
        process.remove(self._state(state_dir))
        process.remove(os.path.join(state_dir, 'nbd.pid'))
        LOG.info('Export of %s stopped', disk)
        return True
