"""The compute driver interface.

It is shaped by what QEMU over QMP can do (as libvirt does underneath): live
migration is asynchronous (start, poll, cancel, force-complete, then an
explicit switch-over), and every operation is idempotent or tells "already
done" from "failed", so a task re-run after a crash can look first and act
second. Every argument and result is a plain JSON-serialisable value: TaskFlow
persists them, and the ``rpc`` driver sends them over the wire.

``spec`` arguments are dicts: uuid, name, vcpus, ram_mb, disk_gb, image.
"""

import abc
import time

# Power states a driver reports.
RUNNING = 'running'
PAUSED = 'paused'        # stopped by a live migration, source side
SHUTOFF = 'shutoff'
INCOMING = 'incoming'    # destination waiting for a live migration

# Live migration states.
MIGRATION_RUNNING = 'running'
MIGRATION_READY = 'pre-switchover'   # converged, waiting for complete
MIGRATION_COMPLETED = 'completed'
MIGRATION_FAILED = 'failed'
MIGRATION_CANCELLED = 'cancelled'
MIGRATION_ACTIVE = (MIGRATION_RUNNING, MIGRATION_READY)


def size_mismatches(world, host, wanted):
    """How the domain and the disk on host differ from ``wanted`` (a spec or
    a flavor: vcpus, ram_mb, disk_gb), as readable problems; a missing one
    is not a mismatch."""
    domain, disk = world['domains'].get(host), world['disks'].get(host)
    if domain is not None and (domain['vcpus'], domain['ram_mb']) != (
            wanted['vcpus'], wanted['ram_mb']):
        yield ('domain has %s vCPUs / %s MB, not %s / %s'
               % (domain['vcpus'], domain['ram_mb'], wanted['vcpus'],
                  wanted['ram_mb']))
    if disk is not None and disk['size_gb'] != wanted['disk_gb']:
        yield 'disk is %s GB, not %s GB' % (disk['size_gb'], wanted['disk_gb'])


class ComputeDriver(metaclass=abc.ABCMeta):

    def __init__(self, conf):
        self.conf = conf

    # -- reading the world ------------------------------------------------
    @abc.abstractmethod
    def describe(self, instance_uuid):
        """Where the instance really is.

        Returns ``{'domains': {host: {'state', 'vcpus', 'ram_mb'}},
        'disks': {host: {'size_gb', 'image'}}, 'bindings': {host: active},
        'migration': None or {'source', 'dest', 'status', 'total_mb',
        'remaining_mb'}}``.
        """

    def describe_host(self, instance_uuid, host):
        """describe() of one host's part: its domain, disk and binding, and
        the migration if it leaves from there. A driver whose describe asks
        every host (rpc) answers this from that host alone."""
        world = self.describe(instance_uuid)
        migration = world['migration']
        part = {key: {h: v for h, v in world[key].items() if h == host}
                for key in ('domains', 'disks', 'bindings')}
        part['migration'] = (migration if migration and migration['source'] == host
                             else None)
        return part

    @abc.abstractmethod
    def list_domains(self):
        """Every domain on every host: list of (instance_uuid, host, state)."""

    @abc.abstractmethod
    def list_disks(self):
        """Every disk on every host: list of (instance_uuid, host)."""

    # -- life cycle -------------------------------------------------------
    @abc.abstractmethod
    def spawn(self, spec, host, power_on=True):
        """Define the domain on host from its disk (redefine if present)."""

    @abc.abstractmethod
    def destroy(self, instance_uuid, host):
        """Remove the domain from host; False when there was none."""

    @abc.abstractmethod
    def power_on(self, instance_uuid, host):
        """Start (or resume a paused) domain; no-op if running."""

    @abc.abstractmethod
    def power_off(self, instance_uuid, host):
        """Stop the domain; no-op if already off."""

    # -- storage ----------------------------------------------------------
    @abc.abstractmethod
    def create_disk(self, spec, host):
        """Create the instance's disk on host from its image (idempotent)."""

    @abc.abstractmethod
    def copy_disk(self, instance_uuid, source, dest, size_gb):
        """Copy the disk to dest, grown to size_gb; in place when equal."""

    def close(self):
        """Let go of what the driver holds (connections, threads): the
        process is done with it."""

    def storage_group(self, host):
        """The group of hosts that reach host's disks (None: its own), as
        the driver knows it; what a compute agent registers by default."""
        return None

    def shares_storage(self, source, dest):
        """Whether both hosts reach one disk file: copy_disk between them
        works in place, and its revert shrinks the disk back. By default
        only a host with itself."""
        return source == dest

    @abc.abstractmethod
    def delete_disk(self, instance_uuid, host):
        """Delete the disk on host; False when there was none."""

    # -- live migration ---------------------------------------------------
    @abc.abstractmethod
    def prepare_incoming(self, spec, host):
        """Start an empty destination domain waiting for the migration.

        Also makes the destination's disk: a copy target the migration
        mirrors into when the hosts do not share storage.
        """

    @abc.abstractmethod
    def start_migration(self, instance_uuid, source, dest, migration_id=None):
        """Start the memory copy; returns at once (idempotent).

        ``migration_id`` (the move's id) is kept with the migration and
        returned by poll_migration as ``id``: an instance's last migration
        stays known after it ends, and a move must not take an earlier
        move's finished (or failed) migration between the same hosts for its
        own. A migration of another id still in progress is refused.
        """

    @abc.abstractmethod
    def poll_migration(self, instance_uuid):
        """The migration dict of describe(), or None when none is known."""

    def wait_migration(self, instance_uuid, timeout):
        """poll_migration, after at most ``timeout`` seconds.

        A driver that is told of a change (QEMU's events) answers as soon as
        the migration moves on; this default just waits.
        """
        time.sleep(timeout)
        return self.poll_migration(instance_uuid)

    @abc.abstractmethod
    def cancel_migration(self, instance_uuid):
        """Cancel; the source keeps running. No-op when none is active."""

    @abc.abstractmethod
    def force_complete_migration(self, instance_uuid):
        """Make a migration that cannot converge finish (post-copy)."""

    @abc.abstractmethod
    def complete_migration(self, instance_uuid):
        """Switch over: stop the source, run the destination.

        No-op when the migration has completed already; DriverError when
        it has not converged (or there is none).
        """

    # -- network ----------------------------------------------------------
    @abc.abstractmethod
    def bind_ports(self, instance_uuid, host):
        """Create an inactive port binding on host (idempotent)."""

    @abc.abstractmethod
    def activate_binding(self, instance_uuid, host):
        """Make host's binding the active one; others become inactive."""

    @abc.abstractmethod
    def unbind_ports(self, instance_uuid, host):
        """Remove host's binding; False when there was none."""
