"""A compute driver for libvirt domains, one libvirtd per host.

Each host's daemon is reached by its URI ([libvirt] host_uris, else
connection_uri: an agent's own host, and no other). What the other hosts
reach a host by (a live migration's destination, a disk's export) the
host's agent says: ``[libvirt] inbound_uri``. Disks are qcow2 files in a
directory per host under ``[libvirt] instances_path`` (``_shared/<group>``
for hosts sharing storage), the serial log always in the host's own
directory.
Nothing is cached but the connections: every call asks libvirt where the
domain is defined, whether it runs, whether a job is active, so a conductor
restarted after a crash sees what really happened.

Domains move live by libvirt's migration (migration.py, what libvirt says
of one in jobs.py); a disk moves outside one (cold migration, resize) by
libvirt's volume download stream (volumes.py).
"""

import contextlib
import os
import shutil

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import layout
from move_orchestrator.drivers.compute.libvirt import domain_xml
from move_orchestrator.drivers.compute.libvirt import hosts
from move_orchestrator.drivers.compute.libvirt import migration
from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator.drivers.compute.libvirt import volumes
from move_orchestrator.drivers.compute.qemu import guest
from move_orchestrator.drivers.compute.qemu import storage
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

GIB = storage.GIB


def _fail(operation, reason):
    raise exception.DriverError(operation=operation, reason=reason)


class LibvirtDriver(volumes.VolumesMixin, migration.MigrationMixin,
                    layout.StorageLayout, base.ComputeDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self.opts = conf.libvirt
        self.root = os.path.abspath(self.opts.instances_path)
        self.conns = hosts.Connections(self.opts, conf.host)
        self.img = storage.QemuImg()
        self._kernel = None
        self._jobs = {}
        # Hosts this process prepared for an instance's incoming migration.
        self._incoming = {}

    def close(self):
        self.conns.close()

    # -- layout -------------------------------------------------------------
    def serial_path(self, instance_uuid, host):
        return os.path.join(self._host_dir(instance_uuid, host), 'serial.log')

    def _hosts(self):
        names = set(self.conns.hosts()) | set(self.opts.storage_groups)
        if os.path.isdir(self.root):
            names.update(h for h in os.listdir(self.root) if not h.startswith('_'))
        return sorted(names)

    def _daemon_hosts(self):
        """The hosts of _hosts() whose daemon this process reaches (an
        agent: its own; a storage group's peers are not asked)."""
        return [h for h in self._hosts() if self.conns.knows(h)]

    def kernel(self):
        if self._kernel is None:
            self._kernel = self.opts.guest_kernel or guest.build()
        return self._kernel

    def _xml(self, spec, host, migration_rec=None):
        fill_mb = spec.get('fill_mb', int(spec['ram_mb'] * self.opts.guest_fill_ratio))
        cmdline = guest.command_line(fill_mb, spec.get('dirty', False),
                                     spec.get('dirty_pages', 0))
        return domain_xml.build(spec, self.opts.domain_type, self.kernel(), cmdline,
                                self.disk_path(spec['uuid'], host),
                                self.serial_path(spec['uuid'], host), migration_rec)

    # -- libvirt --------------------------------------------------------------
    def _dom(self, instance_uuid, host):
        """The domain defined on host, or None."""
        try:
            return self.conns.get(host).lookupByUUIDString(instance_uuid)
        except states.libvirt.libvirtError as e:
            if states.is_no_domain(e):
                return None
            raise exception.DriverError(operation='lookup', reason=str(e))

    def _reachable_doms(self, instance_uuid):
        """{host: domain} over the hosts that answer; one that does not
        (down, being evacuated) is logged and left out."""
        found = {}
        for host in self._daemon_hosts():
            try:
                dom = self._dom(instance_uuid, host)
            except exception.DriverError as e:
                LOG.debug('Host %s not asked: %s', host, e)
                continue
            if dom is not None:
                found[host] = dom
        return found

    @staticmethod
    def _power(dom):
        try:
            return states.power_state(dom.state()[0])
        except states.libvirt.libvirtError as e:
            if states.is_no_domain(e):
                return None
            raise

    # -- reading the world ----------------------------------------------------
    def describe(self, instance_uuid):
        return self._describe(instance_uuid, self._reachable_doms(instance_uuid))

    def describe_host(self, instance_uuid, host):
        dom = self._dom(instance_uuid, host)
        part = self._describe(instance_uuid, {host: dom} if dom else {}, [host])
        if part['migration'] is not None and part['migration']['source'] != host:
            part['migration'] = None
        return part

    def _describe(self, instance_uuid, doms, disk_hosts=None):
        domains, disks = {}, {}
        for host, dom in doms.items():
            state = self._power(dom)
            if state is None:
                continue
            spec, _ = domain_xml.read(dom.XMLDesc(0))
            domains[host] = {'state': state, 'vcpus': spec.get('vcpus'),
                             'ram_mb': spec.get('ram_mb')}
        for host in disk_hosts or self._hosts():
            path = self.disk_path(instance_uuid, host)
            if os.path.exists(path) and (not self._group(host) or host in domains
                                         or not domains):
                size = self.img.virtual_size(path)
                disks[host] = {'size_gb': size // GIB if size % GIB == 0 else size / GIB,
                               'image': None, 'path': path}
        return {'domains': domains, 'disks': disks,
                'migration': self._poll(instance_uuid, doms)}

    def list_domains(self):
        result = []
        for host in self._daemon_hosts():
            try:
                doms = self.conns.get(host).listAllDomains(0)
            except (exception.DriverError, states.libvirt.libvirtError) as e:
                LOG.info('Domains of %s not listed: %s', host, e)
                continue
            for dom in doms:
                spec, _ = domain_xml.read(dom.XMLDesc(0))
                state = self._power(dom)
                if spec and state is not None:
                    result.append((dom.UUIDString(), host, state))
        return result

    def list_disks(self):
        """A disk on shared storage counts as base.disks_counted says, of
        the domains this process reaches (an agent reaching its own daemon
        alone counts a shared disk for its host when its host does not
        define the domain: the rpc driver counts again, over every host's
        domains)."""
        found = []
        for host in self._hosts():
            base_dir = self._disks_dir(host)
            if not os.path.isdir(base_dir):
                continue
            found.extend((instance_uuid, host) for instance_uuid in os.listdir(base_dir)
                         if os.path.exists(os.path.join(base_dir, instance_uuid,
                                                        layout.DISK)))
        return base.disks_counted(found, self.list_domains(), self._group)

    # -- life cycle -------------------------------------------------------------
    def spawn(self, spec, host, power_on=True):
        if not os.path.exists(self.disk_path(spec['uuid'], host)):
            _fail('spawn', 'no disk for %s on %s' % (spec['uuid'], host))
        os.makedirs(self._host_dir(spec['uuid'], host), exist_ok=True)
        dom = self.conns.get(host).defineXML(self._xml(spec, host))
        state = self._power(dom)
        if power_on and not dom.isActive():
            dom.create()
        elif power_on and state == base.PAUSED:
            dom.resume()
        elif not power_on and dom.isActive():
            dom.destroy()

    def destroy(self, instance_uuid, host):
        if self._incoming.get(instance_uuid) == host:
            del self._incoming[instance_uuid]
        self._migration_ended(instance_uuid, host)
        dom = self._dom(instance_uuid, host)
        if dom is not None:
            with contextlib.suppress(states.libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            try:
                dom.undefine()
            except states.libvirt.libvirtError as e:
                if not states.is_no_domain(e):
                    raise exception.DriverError(operation='destroy', reason=str(e))
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.serial_path(instance_uuid, host))
        with contextlib.suppress(OSError):
            os.rmdir(self._host_dir(instance_uuid, host))
        return dom is not None

    def power_on(self, instance_uuid, host):
        dom = self._dom(instance_uuid, host)
        if dom is None:
            _fail('power_on', 'no domain for %s on %s' % (instance_uuid, host))
        if not dom.isActive():
            dom.create()
        elif self._power(dom) == base.PAUSED:
            if states.job_active(dom):
                # Suspended to force a migration to complete: cancelling
                # it is how the source runs again.
                self.cancel_migration(instance_uuid)
            if self._power(dom) == base.PAUSED:
                dom.resume()

    def power_off(self, instance_uuid, host):
        dom = self._dom(instance_uuid, host)
        if dom is None:
            _fail('power_off', 'no domain for %s on %s' % (instance_uuid, host))
        if dom.isActive():
            dom.destroy()

    # -- storage ------------------------------------------------------------------
    def create_disk(self, spec, host):
        path = self.disk_path(spec['uuid'], host)
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image = spec.get('image')
        self.img.create(path, spec['disk_gb'],
                        image if image and os.path.isfile(image) else None)

    def delete_disk(self, instance_uuid, host):
        path = self.disk_path(instance_uuid, host)
        if not os.path.exists(path):
            return False
        if self._group(host) and any(self._reachable_doms(instance_uuid).get(h)
                                     for h in self._hosts() if h != host
                                     and self._group(h) == self._group(host)):
            LOG.info('Disk of %s is shared with a host defining it: kept',
                     instance_uuid)
            return False
        os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))
        return True

    def compare_disks(self, instance_uuid, host_a, host_b):
        return self.img.compare(self.disk_path(instance_uuid, host_a),
                                self.disk_path(instance_uuid, host_b))

    # -- tests and operators --------------------------------------------------------
    def destroy_all(self):
        """Destroy every domain of ours on every host, delete instances_path."""
        for instance_uuid, host, _state in self.list_domains():
            self.destroy(instance_uuid, host)
        shutil.rmtree(self.root, ignore_errors=True)
