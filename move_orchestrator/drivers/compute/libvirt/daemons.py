"""Two (or more) libvirtd "hosts" on one machine: what the functional
tests, the benchmark and ``move-orchestrator demo --driver libvirt`` run
the libvirt driver against when no real hosts are configured.

Each runs in its own mount and UTS namespace (hostinit.py) with its own
configuration, socket directory, host UUID and migration ports, all under
one short directory in /tmp (unix socket paths must stay under 108 bytes,
and peer-to-peer migration must reach the other daemon's socket).
``stop`` destroys every domain, ends the daemon, and reports anything that
outlived it.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid as uuid_mod

from move_orchestrator.drivers.compute import procfs

HOSTINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hostinit.py')
INSTALL = ('apt-get install -y --no-install-recommends libvirt-daemon '
           'libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config '
           'qemu-system-x86 qemu-utils binutils, then pip install libvirt-python '
           '(or .ci/run install_libvirt)')
BINARIES = ('libvirtd', 'virsh', 'qemu-system-x86_64', 'qemu-img', 'as', 'ld',
            'unshare', 'mount')

LIBVIRTD_CONF = '''unix_sock_dir = "%(sock)s"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "%(host_uuid)s"
log_outputs = "2:file:%(root)s/libvirtd.log"
'''

# Below Linux's ephemeral ports (32768 and up): libvirt checks that a port
# is free before it gives it to QEMU, and any process's outgoing connection
# could take one of those in between (QEMU: "Failed to find an available
# port"). Index 27 is the last whose range ends below 32768.
MIGRATION_PORTS = 30000
MAX_INDEX = 27

QEMU_CONF = '''stdio_handler = "file"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
migration_port_min = %(port)d
migration_port_max = %(port_max)d
'''


def missing():
    """What of libvirt, QEMU, binutils and libvirt-python this machine
    lacks to run local hosts: [] when nothing."""
    lacking = [b for b in BINARIES if shutil.which(b) is None]
    try:
        import libvirt  # noqa: F401
    except ImportError:
        lacking.append('libvirt-python')
    return lacking


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)


class Host:
    """One libvirtd in its namespaces, its files under ``root``."""

    def __init__(self, name, root, index):
        self.name = name
        self.root = root
        self.sock = os.path.join(root, 's')
        self.uri = 'qemu+unix:///system?socket=%s/libvirt-sock' % self.sock
        self.index = index
        self.proc = None
        self.conf_path = os.path.join(root, 'etc', 'libvirtd.conf')

    def start(self, timeout=30):
        for d in ('etc', 's'):
            os.makedirs(os.path.join(self.root, d))
        port = MIGRATION_PORTS + 100 * self.index
        values = {'sock': self.sock, 'root': self.root, 'port': port,
                  'port_max': port + 99, 'host_uuid': str(uuid_mod.uuid4())}
        _write(os.path.join(self.root, 'etc', 'libvirtd.conf'), LIBVIRTD_CONF % values)
        _write(os.path.join(self.root, 'etc', 'qemu.conf'), QEMU_CONF % values)
        for name in ('libvirt.conf', 'libvirt-admin.conf'):
            if os.path.exists('/etc/libvirt/' + name):
                shutil.copy('/etc/libvirt/' + name, os.path.join(self.root, 'etc'))
        with open('/etc/passwd') as f:
            passwd = f.read()
        with open('/etc/group') as f:
            group = f.read()
        if '\nlibvirt-qemu:' not in '\n' + passwd:
            passwd += 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n'
        if '\nlibvirt-qemu:' not in '\n' + group:
            group += 'libvirt-qemu:x:64055:\n'
        _write(os.path.join(self.root, 'passwd'), passwd)
        _write(os.path.join(self.root, 'group'), group)
        with open(os.path.join(self.root, 'hostinit.log'), 'wb') as log:
            self.proc = subprocess.Popen(
                ['unshare', '-m', '-u', '--propagation', 'private',
                 sys.executable, HOSTINIT, self.root, self.name],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        sock = os.path.join(self.sock, 'libvirt-sock')
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('libvirtd %s did not start: %s' % (
                    self.name, self.log_tail()))
            time.sleep(0.05)

    def restart(self, timeout=30):
        """Restart the daemon (its QEMUs keep running); back when it
        answers again."""
        sock = os.path.join(self.sock, 'libvirt-sock')
        old = procfs.processes(self.conf_path)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = procfs.processes(self.conf_path)
            if now and not set(now) & set(old) and os.path.exists(sock) and \
                    subprocess.run(['virsh', '-c', self.uri, 'version'],
                                   capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError('libvirtd %s did not restart: %s'
                           % (self.name, self.log_tail()))

    def log_tail(self):
        text = ''
        for name in ('hostinit.log', 'libvirtd.log'):
            try:
                with open(os.path.join(self.root, name)) as f:
                    text += f.read()[-2000:]
            except OSError:
                pass
        return text

    def destroy_domains(self):
        """Destroy and undefine every domain of the daemon (virsh, not our
        driver: the harness must clean up after a broken driver too)."""
        virsh = ['virsh', '-q', '-c', self.uri]
        out = subprocess.run(virsh + ['list', '--all', '--name'],
                             capture_output=True, text=True, timeout=30).stdout
        for name in out.split():
            subprocess.run(virsh + ['destroy', name], capture_output=True, timeout=30)
            subprocess.run(virsh + ['undefine', '--nvram', name],
                           capture_output=True, timeout=30)
        return out.split()

    def stop(self, timeout=20):
        """End the daemon, its QEMUs and its namespace; return what had to
        be killed (QEMUs still running when the daemon was gone)."""
        if self.proc is None:
            return []
        qemus = [p for p in procfs.processes(self.root) if p != self.proc.pid
                 and p not in procfs.processes(self.conf_path)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while procfs.processes(self.conf_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in procfs.processes(self.root):
            if pid != self.proc.pid:
                os.kill(pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self.proc = None
        return qemus


def start_hosts(root, names, first_index=0):
    """Start a daemon per name under root. first_index picks the hosts'
    migration port ranges (100 ports each from MIGRATION_PORTS): hosts
    started by another process at the same time use other indexes."""
    if first_index + len(names) - 1 > MAX_INDEX:
        raise ValueError('host indexes %d-%d: the last is %d'
                         % (first_index, first_index + len(names) - 1, MAX_INDEX))
    hosts = []
    try:
        for index, name in enumerate(names, first_index):
            host = Host(name, os.path.join(root, name), index)
            hosts.append(host)
            host.start()
    except Exception:
        for host in hosts:
            host.stop()
        raise
    return hosts


def stop_hosts(root, hosts):
    """Destroy every domain, stop the daemons, delete root; return what
    outlived them ([] when nothing): QEMUs that had to be killed,
    processes, mounts, sockets or files under root."""
    for host in hosts:
        host.destroy_domains()
    problems = ['QEMU left running: %d' % pid
                for host in hosts for pid in host.stop()]
    # The daemons' own files go with them; what else is there was left.
    for host in hosts:
        shutil.rmtree(host.root, ignore_errors=True)
    problems += leftovers(root)
    shutil.rmtree(root, ignore_errors=True)
    if os.path.exists(root):
        problems.append('%s could not be deleted' % root)
    return problems


def leftovers(root):
    """What of the hosts under root is still there: processes (libvirtd,
    QEMU, our reaper), mounts any process sees, sockets and files."""
    problems = ['process %d' % pid for pid in procfs.processes(root)]
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            kind = 'socket' if stat.S_ISSOCK(os.lstat(path).st_mode) else 'file'
            problems.append('%s %s' % (kind, path))
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/mountinfo' % pid) as f:
                if root in f.read():
                    problems.append('a mount under %s seen by %s' % (root, pid))
        except OSError:
            continue
    return problems
