"""The compute driver interface: what one host's hypervisor does.

Every operation acts on the one host it names (a live migration's on its
source, which drives the memory copy): an agent serving it never reads or
writes another host's files. What involves two hosts (a disk copied from an
export of one into the other, in which order, and how it is undone) is the
conductor's, in drivers/choreography.py; port bindings are the network
driver's (drivers/network).

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

from move_orchestrator import exception

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

# What tune_migration does to a migration that stalls.
TUNE_AUTO_CONVERGE = 'auto_converge'   # throttle the guest's vCPUs
TUNE_POST_COPY = 'post_copy'           # switch over now, pull the rest after
TUNE_PAUSE = 'pause'                   # pause the guest until the copy ends
TUNE_ACTIONS = (TUNE_AUTO_CONVERGE, TUNE_POST_COPY, TUNE_PAUSE)


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


def disks_counted(disks, domains, group_of):
    """The (instance_uuid, host) of disks, a disk on shared storage counted
    as the disk of its group's hosts that define the domain, or of every
    host of the group when none does (a disk made before its domain): the
    world a move leaves has the disk where the instance is, once.

    disks: (instance_uuid, host) whose storage holds the instance's disk;
    domains: (instance_uuid, host, state) of every host that could be seen;
    group_of: host -> its storage group, or None.
    """
    defined = {}
    for instance_uuid, host, _state in domains:
        defined.setdefault(instance_uuid, set()).add(host)
    counted = set()
    for instance_uuid, host in disks:
        group = group_of(host)
        users = {h for h in defined.get(instance_uuid, ()) if group_of(h) == group}
        if group is None or not users or host in users:
            counted.add((instance_uuid, host))
    return sorted(counted)


class ComputeDriver(metaclass=abc.ABCMeta):

    #: The claims the conductor process holds (db/fencing.Fences), set by
    #: it: a driver whose operations run elsewhere sends the instance's
    #: claim with each call, for the host to refuse a deposed conductor.
    claims = None

    def __init__(self, conf):
        self.conf = conf

    def at_once(self, *calls):
        """The results of calls (callables of this driver's operations,
        without arguments), in order; the first error, once all ended.
        Operations that do not depend on each other: a driver whose
        operations are round trips to the hosts' agents makes them
        together (rpc); one that acts in process, one after the other."""
        return [call() for call in calls]

    # -- reading the world ------------------------------------------------
    @abc.abstractmethod
    def describe(self, instance_uuid):
        """Where the instance really is.

        Returns ``{'domains': {host: {'state', 'vcpus', 'ram_mb'}},
        'disks': {host: {'size_gb', 'image'}}, 'migration': None or
        {'source', 'dest', 'status', 'total_mb', 'remaining_mb'}}``.
        A paused domain that a live migration's guest left at its
        switch-over (QEMU's postmigrate), where the driver can tell, says
        ``'migrated': True``: unlike one paused before it, it no longer
        holds the guest.
        """

    def describe_host(self, instance_uuid, host):
        """describe() of one host's part: its domain and disk, and
        the migration if it leaves from there. A driver whose describe asks
        every host (rpc) answers this from that host alone."""
        world = self.describe(instance_uuid)
        migration = world['migration']
        part = {key: {h: v for h, v in world[key].items() if h == host}
                for key in ('domains', 'disks')}
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
    def resize_disk(self, instance_uuid, host, size_gb, shrink=False):
        """Grow host's disk to size_gb in place (equal: no-op); shrinking
        only with ``shrink``, the revert of a grow."""

    @abc.abstractmethod
    def export_disk(self, instance_uuid, host):
        """Serve host's disk read-only over the network for a peer's
        import_disk; idempotent (a running export is returned again).
        Returns ``{'host', 'uri', 'size_bytes', 'image'}``."""

    @abc.abstractmethod
    def unexport_disk(self, instance_uuid, host):
        """Stop host's export of the disk; False when there was none (so a
        revert, or a move resumed after a crash, can always call it)."""

    @abc.abstractmethod
    def import_disk(self, instance_uuid, host, export, size_gb):
        """Make host's disk a copy of a peer's ``export`` (export_disk's
        answer), grown to size_gb; whole or not at all, a no-op when the
        copy is there already."""

    def copy_disk(self, instance_uuid, source, dest, size_gb):
        """The one-call copy agents served before API 1.5, for conductors
        pinned below it: it reaches dest from source's process, so it works
        only where hosts see each other's files. The choreography orders
        the same operations across two agents instead."""
        if self.shares_storage(source, dest):
            self.resize_disk(instance_uuid, source, size_gb, shrink=source == dest)
            return
        export = self.export_disk(instance_uuid, source)
        try:
            self.import_disk(instance_uuid, dest, export, size_gb)
        finally:
            self.unexport_disk(instance_uuid, source)

    def close(self):
        """Let go of what the driver holds (connections, threads): the
        process is done with it."""

    def storage_group(self, host):
        """The group of hosts that reach host's disks (None: its own), as
        the driver knows it; what a compute agent registers by default."""
        return None

    def shares_storage(self, source, dest):
        """Whether both hosts reach one disk file: a copy between them is a
        resize in place, and its revert shrinks the disk back. By default
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
        mirrors into when the hosts do not share storage, of the spec's
        ``disk_bytes`` (the source's disk size, which the conductor asks
        the source for: a host never looks at another's disks).
        """

    @abc.abstractmethod
    def accept_migration(self, spec, host, source):
        """On the destination host: prepare_incoming, then listen for the
        migration from source on the network, with the disk target to
        mirror into where they do not share storage. Returns what the
        source needs to reach it (``{'host', 'uri', 'nbd'}``, for
        start_migration's ``incoming``), so that the source never reaches
        the destination's files; idempotent."""

    @abc.abstractmethod
    def confirm_incoming(self, instance_uuid, host):
        """On the destination host, after the switch-over: the guest arrived
        and runs there (MigrationFailed if not, in time: it waits while the
        guest is on its way, as the conductor asks it together with the
        source's complete_migration), and what only the migration needed
        ends. Returns ``{'host', 'state'}`` and, where
        known, ``resumed_at`` (when the guest ran again there, seconds since
        the epoch) and ``figures`` (what the destination measured of the
        migration: poll_migration's keys, such as ``downtime_ms``, for a
        source that cannot tell them); idempotent."""

    def wait_arrival(self, instance_uuid, host):
        """On the destination host, while the copy runs, for a driver whose
        migration says ``arrives_first`` (the guest runs on the destination
        before the source can tell the migration ended): waits while the
        guest is on its way (from accept_migration on), and answers as
        confirm_incoming does once it runs there, but confirms nothing: the
        move has not passed its point of no return yet. MigrationFailed if
        no guest is on its way, or none arrives in time."""
        raise exception.DriverNotSupported(driver=type(self).__name__,
                                           operation='wait_arrival')

    @abc.abstractmethod
    def start_migration(self, instance_uuid, source, dest, migration_id=None,
                        incoming=None):
        """Start the memory copy; returns at once (idempotent) with the
        migration as poll_migration answers it (its caller need not ask;
        None from an agent before API 1.8: poll then).

        ``incoming``: what the destination's accept_migration answered; None
        for a destination prepared with prepare_incoming, reached through
        its files (agents before API 1.7).

        ``migration_id`` (the move's id) is kept with the migration and
        returned by poll_migration as ``id``: an instance's last migration
        stays known after it ends, and a move must not take an earlier
        move's finished (or failed) migration between the same hosts for its
        own. A migration of another id still in progress is refused.
        """

    def migration_of(self, instance_uuid):
        """describe()'s migration, read only: its source says which agent
        serves the operations on it. A driver that can tell it without
        the rest of describe (domains, disks) answers it cheaper."""
        return self.describe(instance_uuid)['migration']

    @abc.abstractmethod
    def poll_migration(self, instance_uuid, source=None):
        """The migration dict of describe(), or None when none is known.

        ``source``, here and in the other operations on a migration, is
        the host it leaves from when the caller knows it (a move's record
        does): a driver that reaches each host through its agent asks that
        one alone. A driver that sees every host itself may ignore it.

        Besides status and sizes, what the stall policy reads where the
        driver knows it: ``iteration`` (the pass over the memory),
        ``dirty_rate_mb_s``, ``bandwidth_mb_s``, ``throttle_pct``,
        ``postcopy_permitted``, ``paused`` (the guest paused to finish).
        A failed or cancelled migration carries ``reason``, the
        hypervisor's own words where it gave any: the task's error quotes
        it, so an operator reads why without the host's logs.
        ``arrives_first``: the guest runs on the destination before the
        source can tell the migration ended; the conductor asks the
        destination too (wait_arrival, drivers/following.py).
        """

    def wait_migration(self, instance_uuid, timeout, source=None,
                       wake_at_pass=True, look_at_passes=True):
        """poll_migration, after at most ``timeout`` seconds.

        A driver that is told of a change (QEMU's events) answers as soon as
        the migration moves on; this default just waits. ``wake_at_pass``
        False: a new pass over the memory need not end the wait; a driver
        that goes on then answers ``passes``, its first look at each pass
        (poll_migration's figures of the copy, and ``age``: seconds
        before the answer), unless ``look_at_passes`` is False (the stall
        policy does not count them yet: no look, which costs the copy).
        """
        time.sleep(timeout)
        return self.poll_migration(instance_uuid, source=source)

    @abc.abstractmethod
    def cancel_migration(self, instance_uuid, source=None):
        """Cancel; the source keeps running. No-op when none is active."""

    @abc.abstractmethod
    def force_complete_migration(self, instance_uuid, source=None):
        """Make a migration that cannot converge finish: post-copy where
        the migration permits it, else pause the guest (tune_migration's
        post_copy or pause). A migration already forced, or converged and
        waiting for its switch-over, needs nothing more.

        MigrationNotRunning, and nothing done, when no migration is active:
        it may have ended between the caller's look and this call, and
        the caller must not record a force that did not happen."""

    def tune_migration(self, instance_uuid, action, params=None, source=None):
        """Take one of TUNE_ACTIONS on a running migration (the stall
        policy's); ``params`` of auto_converge: ``initial`` and
        ``increment`` (percent). Returns what was done, as a dict for the
        task's history; DriverError when the migration cannot (post-copy
        not permitted, say) or the driver has no such action."""
        raise exception.DriverError(
            operation='tune_migration', reason='the %s driver cannot tune a '
            'live migration' % type(self).__name__)

    @abc.abstractmethod
    def complete_migration(self, instance_uuid, source=None):
        """Switch over: stop the source, run the destination.

        No-op when the migration has completed already; DriverError when
        it has not converged (or there is none). May answer the finished
        migration as poll_migration would (saving the caller that poll);
        None says nothing, and the caller polls.
        """

    # -- live resize (hotplug) --------------------------------------------
    def topology(self, instance_uuid, host):
        """How the domain on host was built and can grow:
        ``{'max_vcpus', 'max_ram_mb', 'free_slots', ...}``, or None when it
        cannot grow in place (not running, or no hotplug support). A driver
        whose hot-plugged devices must be recreated on a live migration's
        destination returns them too, and prepare_incoming takes the dict
        back as the spec's ``topology``."""
        return None

    def hotplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        """Grow the running domain to ``vcpus`` / ``ram_mb`` in total (None:
        leave it) by adding devices; a no-op for what is there already.
        Returns ``{'vcpus', 'ram_mb'}`` after."""
        raise exception.DriverError(operation='hotplug',
                                    reason='%s cannot hotplug'
                                    % type(self).__name__)

    def hot_unplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        """Remove hot-plugged devices down to ``vcpus`` / ``ram_mb`` (None:
        leave it); a no-op when not above. HotUnplugRefused when the guest
        does not give them back. Returns ``{'vcpus', 'ram_mb'}`` after."""
        raise exception.DriverError(operation='hot_unplug',
                                    reason='%s cannot hotplug'
                                    % type(self).__name__)
