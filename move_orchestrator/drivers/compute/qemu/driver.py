"""A compute driver running real QEMU VMs, one directory per simulated host.

Layout under ``[qemu] instances_path``::

    <host>/<uuid>/            domain files (see process.py), disk.qcow2, disk.json,
                              nbd.json while the disk is exported (nbd.py),
                              incoming.json and arrival.json while a live
                              migration it accepted comes in (incoming.py)
    <host>/_migrations/<uuid>.json
                              the last live migration of the instance from host
    _shared/<group>/<uuid>/   disk.qcow2 of hosts sharing storage, and users/<host>
                              for each host of the group defining the domain

An operation on a host reads and writes only that host's directory (and its
storage group's): an agent runs where it cannot see the others. A disk goes
to another host over the network, exported by qemu-nbd and imported with
``qemu-img convert`` (drivers/choreography.py orders them).

Nothing is cached in the driver object: every call reads the files and asks
the QEMU processes (pid alive? ``query-status``, ``query-migrate``), so a
conductor restarted after a crash sees what really happened.
"""

import contextlib
import os
import shutil

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import layout
from move_orchestrator.drivers.compute.qemu import completion
from move_orchestrator.drivers.compute.qemu import guest
from move_orchestrator.drivers.compute.qemu import hotplug
from move_orchestrator.drivers.compute.qemu import incoming as incoming_mod
from move_orchestrator.drivers.compute.qemu import migration
from move_orchestrator.drivers.compute.qemu import nbd
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import stall
from move_orchestrator.drivers.compute.qemu import storage
from move_orchestrator import exception

LOG = logging.getLogger(__name__)


# QMP run states -> driver power states.
_STATES = {
    'running': base.RUNNING,
    'inmigrate': base.INCOMING,
    'shutdown': base.SHUTOFF,
    None: base.SHUTOFF,
}


# The run state QEMU leaves a source in once its migration completed (the
# guest left it at the switch-over), and after a failed one of a guest paused
# before it: its migration's status tells them apart (_migrated).
_MIGRATED = 'postmigrate'
_ASK = object()


def _fail(operation, reason):
    raise exception.DriverError(operation=operation, reason=reason)


class QemuDriver(stall.StallMixin, completion.CompletionMixin,
                 incoming_mod.IncomingMixin, migration.MigrationMixin,
                 hotplug.HotplugMixin, layout.StorageLayout,
                 base.ComputeDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self.opts = conf.qemu
        self.root = os.path.abspath(self.opts.instances_path)
        self.img = storage.QemuImg(self.opts.qemu_img)
        self.exports = nbd.Exports(self.opts.qemu_nbd, self.opts.host_address,
                                   self.opts.operation_timeout)
        self._kernel = None

    # -- layout -------------------------------------------------------------
    def _domain(self, instance_uuid, host):
        return process.Domain(self.root, host, instance_uuid)

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
        return sorted(u for u in os.listdir(path) if not u.startswith('_')
                      and os.path.isdir(os.path.join(path, u)))

    def _disk_seen_from(self, instance_uuid, host):
        """Whether the instance's existing disk counts as host's.

        A local disk does. A disk on shared storage is one file that every
        host of the group reaches: it counts as the disk of the hosts that
        define the domain, or of every host of the group when none does (a
        disk made before its domain). So the world a move leaves has the
        disk where the instance is, and one on shared storage only once.
        """
        if not self._group(host):
            return True
        users = self._users(instance_uuid, host)
        return not users or host in users

    def _users_dir(self, instance_uuid, host):
        return os.path.join(self._disk_dir(instance_uuid, host), 'users')

    def _users(self, instance_uuid, host):
        """Hosts of host's storage group that define the domain, as they
        wrote it on the storage they share (never read from their own
        directories)."""
        try:
            return sorted(os.listdir(self._users_dir(instance_uuid, host)))
        except FileNotFoundError:
            return []

    def _mark_user(self, instance_uuid, host, uses):
        if not self._group(host):
            return
        path = os.path.join(self._users_dir(instance_uuid, host), host)
        if uses:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, 'a').close()
        else:
            process.remove(path)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))

    def kernel(self):
        if self._kernel is None:
            self._kernel = self.opts.guest_kernel or guest.build()
        return self._kernel

    # -- reading the world ----------------------------------------------------
    def _state(self, dom, status=_ASK):
        """Power state of a domain (of its QMP run state ``status``, asked
        if not given), or None when it is not defined."""
        if status is _ASK:
            status = dom.status()
        if status is None and dom.read_definition() is None:
            return None
        return _STATES.get(status, base.PAUSED)

    @staticmethod
    def _migrated(dom):
        """Whether the guest left this postmigrate domain at the switch-over
        of a completed migration: unlike one paused before it ('paused',
        'finish-migrate', or postmigrate after a failed migration), it no
        longer holds the guest (base.ComputeDriver.describe). QEMU's own
        word, which no record of ours needs to survive for."""
        try:
            with dom.qmp() as q:
                return q.execute('query-migrate').get('status') == 'completed'
        except qmp.QMPError as e:
            LOG.info('Migration of %s on %s not known: %s', dom.uuid, dom.host, e)
            return False

    def describe(self, instance_uuid):
        return self._describe(instance_uuid, self._hosts())

    def describe_host(self, instance_uuid, host):
        """Only host's domain and disk are looked at: one QMP
        connection, not one per host (an agent answers rpc's describe with
        this, so each agent used to look at every host)."""
        part = self._describe(instance_uuid, [host])
        if part['migration'] is not None and part['migration']['source'] != host:
            part['migration'] = None
        return part

    def _describe(self, instance_uuid, hosts):
        domains, disks = {}, {}
        for host in hosts:
            dom = self._domain(instance_uuid, host)
            status = dom.status()
            state = self._state(dom, status)
            if state is not None:
                spec = (dom.read_definition() or {}).get('spec', {})
                domains[host] = {'state': state, 'vcpus': spec.get('vcpus'),
                                 'ram_mb': spec.get('ram_mb')}
                if status == _MIGRATED and self._migrated(dom):
                    domains[host]['migrated'] = True
            path = self.disk_path(instance_uuid, host)
            if os.path.exists(path) and self._disk_seen_from(instance_uuid, host):
                meta = process.read_json(path[:-len('.qcow2')] + '.json', {})
                size = self.img.virtual_size(path)
                disks[host] = {'size_gb': size // storage.GIB if size % storage.GIB == 0
                               else size / storage.GIB,
                               'image': meta.get('image'), 'path': path}
        return {'domains': domains, 'disks': disks,
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
            base_dir = self._disks_dir(host)
            if not os.path.isdir(base_dir):
                continue
            for instance_uuid in sorted(os.listdir(base_dir)):
                if (os.path.exists(os.path.join(base_dir, instance_uuid, layout.DISK))
                        and self._disk_seen_from(instance_uuid, host)):
                    result.append((instance_uuid, host))
        return result

    # -- life cycle -------------------------------------------------------------
    def _start(self, dom, incoming=False, hold=False):
        definition = dom.read_definition()
        spec = definition['spec']
        if spec.get('topology') is None:
            # Started able to grow; a live migration's destination gets the
            # source's topology, plugged devices included, in its spec.
            spec['topology'] = hotplug.initial_topology(
                self.conf.compute, spec.get('vcpus') or 1, spec['ram_mb'])
            dom.write_definition(definition)
        ram_mb = spec['topology']['boot_ram_mb']
        if self.opts.ram_limit_mb:
            ram_mb = min(ram_mb, self.opts.ram_limit_mb)
        fill_mb = spec.get('fill_mb', int(ram_mb * self.opts.guest_fill_ratio))
        append = guest.command_line(fill_mb, spec.get('dirty', self.opts.guest_dirty),
                                    spec.get('dirty_pages', self.opts.guest_dirty_pages))
        disk = self.disk_path(dom.uuid, dom.host)
        if not os.path.exists(disk):
            _fail('start', 'no disk for %s on %s' % (dom.uuid, dom.host))
        dom.start(self.opts.binary, self.kernel(), append,
                  hotplug.argv(spec['topology'], ram_mb), disk,
                  incoming=incoming, hold=hold, tcg_threads=self.opts.tcg_threads)

    def spawn(self, spec, host, power_on=True):
        if not os.path.exists(self.disk_path(spec['uuid'], host)):
            _fail('spawn', 'no disk for %s on %s' % (spec['uuid'], host))
        dom = self._domain(spec['uuid'], host)
        os.makedirs(dom.dir, exist_ok=True)
        status = dom.status()
        old = (dom.read_definition() or {}).get('spec', {})
        if power_on and status is not None and old.get('topology'):
            # A QEMU left running keeps the size it was started with and
            # grown to; one stopped here starts afresh from the new spec.
            spec = dict(spec, topology=old['topology'])
        self._mark_user(spec['uuid'], host, True)
        dom.write_definition({'spec': spec})
        if power_on and status is None:
            self._start(dom)
        elif power_on and status != 'running':
            self.power_on(spec['uuid'], host)
        elif not power_on and status is not None:
            dom.stop()

    def destroy(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        existed = dom.stop() or dom.read_definition() is not None
        for name in ('domain.json', 'serial.log', 'incoming.json', 'arrival.json',
                     'arrival.log'):
            process.remove(dom.path(name))
        with contextlib.suppress(OSError):
            os.rmdir(dom.dir)
        self._mark_user(instance_uuid, host, False)
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

    def export_disk(self, instance_uuid, host):
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            _fail('export_disk', 'no disk for %s on %s' % (instance_uuid, host))
        meta = process.read_json(os.path.join(os.path.dirname(path), 'disk.json'), {})
        return {'host': host, 'size_bytes': self.img.virtual_size(path),
                'image': meta.get('image'),
                'uri': self.exports.start(self._domain(instance_uuid, host).dir, path)}

    def unexport_disk(self, instance_uuid, host):
        return self.exports.stop(self._domain(instance_uuid, host).dir,
                                 self.disk_path(instance_uuid, host))

    def import_disk(self, instance_uuid, host, export, size_gb):
        dst = self.disk_path(instance_uuid, host)
        if os.path.exists(dst):
            # Imported whole before (renamed into place): a re-run.
            self.img.grow(dst, size_gb, operation='import_disk')
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        self.img.copy(export['uri'], dst, size_gb, source_format='raw',
                      operation='import_disk')
        self._write_disk_meta(instance_uuid, host, export.get('image'))

    def delete_disk(self, instance_uuid, host):
        """Delete the disk; a disk shared with a host still defining the
        domain is kept (False), as the source's cleanup after a move within
        one storage group must not delete the destination's disk."""
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            return False
        users = [h for h in self._users(instance_uuid, host) if h != host]
        if self._group(host) and users:
            LOG.info('Disk of %s is shared with %s: kept', instance_uuid, users)
            return False
        self.unexport_disk(instance_uuid, host)
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

    # -- tests and operators --------------------------------------------------------
    def destroy_all(self):
        """Stop every QEMU process under instances_path and delete it all."""
        for host in self._hosts():
            for instance_uuid in self._instances_on(host):
                self._domain(instance_uuid, host).stop(timeout=2)
                self.unexport_disk(instance_uuid, host)
        shutil.rmtree(self.root, ignore_errors=True)
