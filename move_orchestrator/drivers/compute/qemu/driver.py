"""A compute driver running real QEMU VMs, one directory per simulated host.

Layout under ``[qemu] instances_path``::

    <host>/<uuid>/            domain files (see process.py), disk.qcow2, disk.json
    <host>/bindings.json      port bindings of the host: {uuid: active}
    _shared/<group>/<uuid>/   disk.qcow2 of hosts sharing storage
    _migrations/<uuid>.json   the last live migration of the instance

Nothing is cached in the driver object: every call reads the files and asks
the QEMU processes (pid alive? ``query-status``, ``query-migrate``), so a
conductor restarted after a crash sees what really happened.
"""

import contextlib
import fcntl
import os
import shutil

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import guest
from move_orchestrator.drivers.compute.qemu import migration
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import storage
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

SHARED = '_shared'
MIGRATIONS = '_migrations'

# QMP run states -> driver power states.
_STATES = {
    'running': base.RUNNING,
    'inmigrate': base.INCOMING,
    'shutdown': base.SHUTOFF,
    None: base.SHUTOFF,
}


def _fail(operation, reason):
    raise exception.DriverError(operation=operation, reason=reason)


class QemuDriver(migration.MigrationMixin, base.ComputeDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self.opts = conf.qemu
        self.root = os.path.abspath(self.opts.instances_path)
        self.img = storage.QemuImg(self.opts.qemu_img)
        self._kernel = None

    # -- layout -------------------------------------------------------------
    def _domain(self, instance_uuid, host):
        return process.Domain(self.root, host, instance_uuid)

    def _group(self, host):
        return self.opts.storage_groups.get(host)

    def storage_group(self, host):
        return self._group(host)

    def shares_storage(self, source, dest):
        """Whether both hosts reach one disk file (copy_disk works in place)."""
        return source == dest or (self._group(source) is not None
                                  and self._group(source) == self._group(dest))

    def _disk_dir(self, instance_uuid, host):
        group = self._group(host)
        if group:
            return os.path.join(self.root, SHARED, group, instance_uuid)
        return os.path.join(self.root, host, instance_uuid)

    def disk_path(self, instance_uuid, host):
        return os.path.join(self._disk_dir(instance_uuid, host), 'disk.qcow2')

    def _hosts(self):
        hosts = set(self.opts.storage_groups)
        if os.path.isdir(self.root):
            hosts.update(h for h in os.listdir(self.root) if not h.startswith('_')
                         and os.path.isdir(os.path.join(self.root, h)))
        return sorted(hosts)

    def _instances_on(self, host):
        path = os.path.join(self.root, host)
        if not os.path.isdir(path):
            return []
        return sorted(u for u in os.listdir(path)
                      if os.path.isdir(os.path.join(path, u)))

    def _disk_seen_from(self, instance_uuid, host):
        """Whether the instance's existing disk counts as host's.

        A local disk does. A disk on shared storage is one file that every
        host of the group reaches: it counts as the disk of the hosts that
        define the domain, or of every host of the group when none does (a
        disk made before its domain). So the world a move leaves has the
        disk where the instance is, and one on shared storage only once.
        """
        group = self._group(host)
        if not group:
            return True
        users = [h for h in self._hosts() if self._group(h) == group
                 and self._domain(instance_uuid, h).read_definition() is not None]
        return not users or host in users

    def kernel(self):
        if self._kernel is None:
            self._kernel = self.opts.guest_kernel or guest.build()
        return self._kernel

    # -- reading the world ----------------------------------------------------
    def _state(self, dom):
        """Power state of a domain, or None when it is not defined."""
        status = dom.status()
        if status is None and dom.read_definition() is None:
            return None
        return _STATES.get(status, base.PAUSED)

    def describe(self, instance_uuid):
        return self._describe(instance_uuid, self._hosts())

    def describe_host(self, instance_uuid, host):
        """Only host's domain, disk and binding are looked at: one QMP
        connection, not one per host (an agent answers rpc's describe with
        this, so each agent used to look at every host)."""
        part = self._describe(instance_uuid, [host])
        if part['migration'] is not None and part['migration']['source'] != host:
            part['migration'] = None
        return part

    def _describe(self, instance_uuid, hosts):
        domains, disks, bindings = {}, {}, {}
        for host in hosts:
            dom = self._domain(instance_uuid, host)
            state = self._state(dom)
            if state is not None:
                spec = (dom.read_definition() or {}).get('spec', {})
                domains[host] = {'state': state, 'vcpus': spec.get('vcpus'),
                                 'ram_mb': spec.get('ram_mb')}
            path = self.disk_path(instance_uuid, host)
            if os.path.exists(path) and self._disk_seen_from(instance_uuid, host):
                meta = process.read_json(path[:-len('.qcow2')] + '.json', {})
                size = self.img.virtual_size(path)
                disks[host] = {'size_gb': size // storage.GIB if size % storage.GIB == 0
                               else size / storage.GIB,
                               'image': meta.get('image'), 'path': path}
            active = self._bindings(host).get(instance_uuid)
            if active is not None:
                bindings[host] = active
        return {'domains': domains, 'disks': disks, 'bindings': bindings,
                'migration': self.poll_migration(instance_uuid, act=False)}

    def list_domains(self):
        result = []
        for host in self._hosts():
            for instance_uuid in self._instances_on(host):
                state = self._state(self._domain(instance_uuid, host))
                if state is not None:
                    result.append((instance_uuid, host, state))
        return result

    def list_disks(self):
        result = []
        for host in self._hosts():
            group = self._group(host)
            base_dir = (os.path.join(self.root, SHARED, group) if group
                        else os.path.join(self.root, host))
            if not os.path.isdir(base_dir):
                continue
            for instance_uuid in sorted(os.listdir(base_dir)):
                if (os.path.exists(os.path.join(base_dir, instance_uuid, 'disk.qcow2'))
                        and self._disk_seen_from(instance_uuid, host)):
                    result.append((instance_uuid, host))
        return result

    # -- life cycle -------------------------------------------------------------
    def _start(self, dom, incoming=False):
        spec = dom.read_definition()['spec']
        ram_mb = spec['ram_mb']
        if self.opts.ram_limit_mb:
            ram_mb = min(ram_mb, self.opts.ram_limit_mb)
        fill_mb = spec.get('fill_mb', int(ram_mb * self.opts.guest_fill_ratio))
        append = guest.command_line(fill_mb, spec.get('dirty', self.opts.guest_dirty))
        disk = self.disk_path(dom.uuid, dom.host)
        if not os.path.exists(disk):
            _fail('start', 'no disk for %s on %s' % (dom.uuid, dom.host))
        dom.start(self.opts.binary, self.kernel(), append, ram_mb,
                  spec.get('vcpus') or 1, disk, incoming=incoming)

    def spawn(self, spec, host, power_on=True):
        if not os.path.exists(self.disk_path(spec['uuid'], host)):
            _fail('spawn', 'no disk for %s on %s' % (spec['uuid'], host))
        dom = self._domain(spec['uuid'], host)
        os.makedirs(dom.dir, exist_ok=True)
        dom.write_definition({'spec': spec})
        status = dom.status()
        if power_on and status is None:
            self._start(dom)
        elif power_on and status != 'running':
            self.power_on(spec['uuid'], host)
        elif not power_on and status is not None:
            dom.stop()

    def destroy(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        existed = dom.stop() or dom.read_definition() is not None
        for name in ('domain.json', 'serial.log'):
            process.remove(dom.path(name))
        with contextlib.suppress(OSError):
            os.rmdir(dom.dir)
        return existed

    def power_on(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        if dom.read_definition() is None:
            _fail('power_on', 'no domain for %s on %s' % (instance_uuid, host))
        status = dom.status()
        if status == 'inmigrate':
            _fail('power_on', 'domain on %s is waiting for a migration' % host)
        if status is None:
            self._start(dom)
        elif status != 'running' and self._holds_migration(instance_uuid, host):
            # Paused by a live migration waiting at its switch-over point (it
            # converged while nobody watched): QEMU refuses 'cont' until the
            # migration ends, so running the source again means cancelling it.
            self.cancel_migration(instance_uuid)
        elif status != 'running':
            # Paused, or left 'postmigrate' by a live migration: resuming the
            # source is how a switch-over is undone before the PONR.
            with dom.qmp() as q:
                q.execute('cont')

    def _holds_migration(self, instance_uuid, host):
        migration = self.poll_migration(instance_uuid, act=False)
        return bool(migration and migration['source'] == host
                    and migration['status'] in base.MIGRATION_ACTIVE
                    and not self._record(instance_uuid).get('continued'))

    def power_off(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        if dom.read_definition() is None:
            _fail('power_off', 'no domain for %s on %s' % (instance_uuid, host))
        try:
            status = dom.status()
        except exception.DriverError:
            status = 'hung'     # stop() kills what QMP cannot quit
        if status == 'inmigrate':
            _fail('power_off', 'domain on %s is waiting for a migration' % host)
        dom.stop(timeout=self.opts.operation_timeout)

    # -- storage ------------------------------------------------------------------
    def _write_disk_meta(self, instance_uuid, host, image):
        process.write_json(os.path.join(self._disk_dir(instance_uuid, host), 'disk.json'),
                           {'image': image})

    def create_disk(self, spec, host):
        path = self.disk_path(spec['uuid'], host)
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image = spec.get('image')
        self.img.create(path, spec['disk_gb'],
                        image if image and os.path.isfile(image) else None)
        self._write_disk_meta(spec['uuid'], host, image)

    def copy_disk(self, instance_uuid, source, dest, size_gb):
        src = self.disk_path(instance_uuid, source)
        if not os.path.exists(src):
            _fail('copy_disk', 'no disk for %s on %s' % (instance_uuid, source))
        if self.shares_storage(source, dest):
            # In place. copy_disk(source, source, smaller) is the revert of a
            # resize in place (on one host or within a storage group): the
            # grow is undone. A move between hosts never shrinks the disk.
            self.img.grow(src, size_gb, operation='copy_disk', shrink=source == dest)
            return
        dst = self.disk_path(instance_uuid, dest)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        self.img.copy(src, dst, size_gb)
        meta = process.read_json(os.path.join(os.path.dirname(src), 'disk.json'), {})
        self._write_disk_meta(instance_uuid, dest, meta.get('image'))

    def delete_disk(self, instance_uuid, host):
        """Delete the disk; a disk shared with a host still defining the
        domain is kept (False), as the source's cleanup after a move within
        one storage group must not delete the destination's disk."""
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            return False
        group = self._group(host)
        if group:
            users = [h for h in self._hosts() if h != host and self._group(h) == group
                     and self._domain(instance_uuid, h).read_definition() is not None]
            if users:
                LOG.info('Disk of %s is shared with %s: kept', instance_uuid, users)
                return False
        ddir = os.path.dirname(path)
        for name in ('disk.qcow2', 'disk.json', 'disk.qcow2.part'):
            process.remove(os.path.join(ddir, name))
        with contextlib.suppress(OSError):
            os.rmdir(ddir)
        return True

    def compare_disks(self, instance_uuid, host_a, host_b):
        """True when the instance's disks on both hosts hold the same data."""
        return self.img.compare(self.disk_path(instance_uuid, host_a),
                                self.disk_path(instance_uuid, host_b))

    # -- network (a JSON file per host; there is no Neutron here) ---------------------
    def _bindings_path(self, host):
        return os.path.join(self.root, host, 'bindings.json')

    def _bindings(self, host):
        return process.read_json(self._bindings_path(host), {})

    @contextlib.contextmanager
    def _locked_bindings(self, host):
        os.makedirs(os.path.join(self.root, host), exist_ok=True)
        with open(os.path.join(self.root, host, '.bindings.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            bindings = self._bindings(host)
            yield bindings
            process.write_json(self._bindings_path(host), bindings)

    def bind_ports(self, instance_uuid, host):
        with self._locked_bindings(host) as bindings:
            bindings.setdefault(instance_uuid, False)

    def activate_binding(self, instance_uuid, host):
        if instance_uuid not in self._bindings(host):
            _fail('activate_binding', 'no binding of %s on %s' % (instance_uuid, host))
        # Activate the new binding first: a crash in between leaves two
        # active bindings (re-run fixes it), never none.
        for h in [host] + [h for h in self._hosts() if h != host]:
            if instance_uuid in self._bindings(h):
                with self._locked_bindings(h) as bindings:
                    bindings[instance_uuid] = h == host

    def unbind_ports(self, instance_uuid, host):
        if instance_uuid not in self._bindings(host):
            return False
        with self._locked_bindings(host) as bindings:
            return bindings.pop(instance_uuid, None) is not None

    # -- tests and operators --------------------------------------------------------
    def destroy_all(self):
        """Stop every QEMU process under instances_path and delete it all."""
        for host in self._hosts():
            for instance_uuid in self._instances_on(host):
                self._domain(instance_uuid, host).stop(timeout=2)
        shutil.rmtree(self.root, ignore_errors=True)
