"""QEMU processes of one simulated host: start, find, stop.

A domain's runtime files live in ``<instances_path>/<host>/<uuid>/``:
``domain.json`` (its definition; present while the domain is defined),
``pid``, ``qmp.sock``, ``switchover.sock`` (a second monitor, the
switch-over watcher's: a QMP socket serves one client at a time),
``serial.log`` and, on a migration destination, ``migrate.sock`` and
``nbd.sock``. QEMU runs with ``-daemonize``, so a domain
outlives the conductor that started it (as a libvirt domain does) and the
next conductor finds it again from the pid file.

What QEMU itself says (its errors: a disk it cannot open, a migration it
cannot load) goes to ``<instances_path>/<host>/_logs/<uuid>.log``, as
libvirt keeps a log per domain (QEMU starts it afresh at each start): it
outlives the domain, so the reason a destination died is still there once
the move has reverted.
"""

import json
import os
import signal
import subprocess
import time

from oslo_log import log as logging

from move_orchestrator.drivers.compute import procfs
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watcher_io
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

INSTALL_HINT = 'apt-get install -y qemu-system-x86 qemu-utils'
LOGS = '_logs'          # beside the host's domains: QEMU's own words
LOG_TAIL = 4096         # bytes of a log read for its last line


class Domain:
    """The files and process of one instance on one host."""

    def __init__(self, root, host, instance_uuid):
        self.host = host
        self.uuid = instance_uuid
        self.dir = os.path.join(root, host, instance_uuid)

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def log_path(self):
        return os.path.join(os.path.dirname(self.dir), LOGS, self.uuid + '.log')

    def last_said(self):
        """QEMU's last line in the domain's log, without its program name
        (None if it said nothing): the reason for an error seen from
        outside."""
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - LOG_TAIL))
                lines = [line.strip() for line in
                         f.read().decode(errors='replace').splitlines()]
        except FileNotFoundError:
            return None
        lines = [line for line in lines if line]
        if not lines:
            return None
        program, sep, said = lines[-1].partition(': ')
        return said if sep and program.startswith('qemu-') else lines[-1]

    @property
    def qmp_path(self):
        return self.path('qmp.sock')

    @property
    def switchover_path(self):
        return self.path('switchover.sock')

    # -- definition -----------------------------------------------------------
    def read_definition(self):
        try:
            with open(self.path('domain.json')) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def write_definition(self, definition):
        os.makedirs(self.dir, exist_ok=True)
        write_json(self.path('domain.json'), definition)

    # -- process ----------------------------------------------------------------
    def pid(self):
        """The pid of this domain's live QEMU process, or None.

        A zombie or a pid reused by another process does not count: the
        process must be alive and have our QMP socket on its command line.
        """
        try:
            with open(self.path('pid')) as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not procfs.running(pid) or \
                self.qmp_path.encode() not in procfs.cmdline(pid):
            return None
        return pid

    def qmp(self, timeout=10.0):
        return qmp.QMPClient(self.qmp_path, timeout=timeout)

    def status(self):
        """QMP run state ('running', 'inmigrate', ...) or None if not running.

        A live process whose QMP does not answer raises DriverError: better
        "cannot tell" than a guess a reconcile would act on.
        """
        if self.pid() is None:
            return None
        # A QEMU just started (by another process, say) has written its pid
        # file but may not listen on its QMP socket yet: give it a moment.
        deadline = time.monotonic() + 5.0
        while True:
            try:
                with self.qmp() as q:
                    return q.execute('query-status')['status']
            except qmp.QMPError as e:
                error = e
            if self.pid() is None:
                return None
            if error.kwargs.get('operation') != 'connect' or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise exception.DriverError(
            operation='query-status', reason='QEMU %s of %s on %s does not answer: %s'
            % (self.pid(), self.uuid, self.host, error))

    def start(self, binary, kernel, append, size_argv, disk, incoming=False,
              hold=False, *, tcg_threads):
        """Start QEMU (daemonized); returns once QMP is listening.

        ``size_argv``: its -smp and -m, and the devices hot-plugged since it
        was first started (see hotplug.argv). ``hold``: an incoming guest
        does not run by itself when it has arrived (``-S``): whoever ends
        what the migration needed there first runs it (``cont``).
        """
        if self.pid() is not None:
            return
        if len(self.switchover_path) > 107:
            raise exception.DriverError(
                operation='start', reason='unix socket paths under %s are too long '
                '(max 107 bytes): use a shorter instances_path' % self.dir)
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        for name in ('qmp.sock', 'switchover.sock', 'pid'):
            remove(self.path(name))
        argv = [
            binary, '-name', 'guest=%s,debug-threads=off' % self.uuid,
            '-machine', 'q35', '-accel', 'tcg,thread=%s' % tcg_threads,
            '-nodefaults', '-no-user-config',
            '-display', 'none', *size_argv,
            '-kernel', kernel, '-append', append,
            '-chardev', 'file,id=serial0,path=%s,append=on' % self.path('serial.log'),
            '-device', 'isa-serial,chardev=serial0,id=serial0',
            '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
            '-qmp', 'unix:%s,server=on,wait=off' % self.switchover_path,
            '-pidfile', self.path('pid'), '-daemonize',
            # Its errors go there (the daemon's stderr too), not to /dev/null.
            '-D', self.log_path,
        ]
        if disk:
            argv += ['-drive', 'file=%s,format=qcow2,if=none,id=drive0,node-name=disk0'
                     % disk, '-device', 'virtio-blk-pci,drive=drive0,id=disk0']
        if incoming:
            argv += ['-incoming', 'defer']
        if hold:
            argv.append('-S')
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise exception.DriverError(
                operation='start', reason='%s not found: %s' % (binary, INSTALL_HINT))
        if proc.returncode or self.pid() is None:
            raise exception.DriverError(
                operation='start', reason='QEMU for %s on %s did not start: %s'
                % (self.uuid, self.host, proc.stderr.strip() or self.last_said()))
        LOG.debug('Started QEMU %s for %s on %s', self.pid(), self.uuid, self.host)

    def stop(self, timeout=5.0):
        """Stop QEMU (QMP quit, then SIGKILL); False when it was not running."""
        pid = self.pid()
        if pid is None:
            self._remove_runtime()
            return False
        try:
            with self.qmp(timeout=2.0) as q:
                q.execute('quit')
        except qmp.QMPError:
            pass
        # Its state, not pid(): an exiting QEMU has lost its command line
        # already, so pid() cannot tell when it is really gone.
        deadline = time.monotonic() + timeout
        while procfs.running(pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        if procfs.running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while procfs.running(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.01)
        self._remove_runtime()
        return True

    def _remove_runtime(self):
        for name in ('qmp.sock', 'switchover.sock', 'pid', 'migrate.sock',
                     'nbd.sock'):
            remove(self.path(name))


# The watchers' own, which a bare interpreter can import: one format for
# the files both sides read.
write_json = watcher_io.write_json
read_json = watcher_io.read_json


def remove(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
