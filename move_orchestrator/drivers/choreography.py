"""What involves two hosts, on the conductor side of the compute driver.

A compute driver acts on one host at a time (drivers/compute/base.py); a
move needs two. This module says which host does what, in which order, and
how it is undone, so that no host ever reads or writes another's files:

* a disk copy: the source exports its disk read-only over the network, the
  destination imports it, and the source stops its export again, also when
  the import fails; the undo stops an export a crash left behind first;
* within a storage group the disk is one file both hosts reach: a copy is
  a resize in place, and the disk is never deleted from under the host
  that keeps using it;
* a live migration's destination is made as large as the source says its
  disk is, and built as the source's domain is (its topology); it accepts
  the migration itself and answers where the source sends the stream and
  mirrors the disk, and after the switch-over confirms that the guest
  arrived and runs.

Every function is idempotent: steps call them again after a crash.
"""

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator import exception

LOG = logging.getLogger(__name__)
GIB = 1 << 30
_UNKNOWN = object()     # what the source could not say


def copy_disk(driver, instance_uuid, source, dest, size_gb):
    """dest gets a copy of source's disk, grown to size_gb (in place when
    they share storage)."""
    if driver.shares_storage(source, dest):
        driver.resize_disk(instance_uuid, source, size_gb)
        return
    try:
        export = driver.export_disk(instance_uuid, source)
    except exception.AgentTooOld:
        # Pinned below the agent API that exports: the one-call copy of
        # that release, between hosts that see each other's files.
        driver.copy_disk(instance_uuid, source, dest, size_gb)
        return
    try:
        driver.import_disk(instance_uuid, dest, export, size_gb)
    except Exception:
        stop_export(driver, instance_uuid, source)
        raise
    driver.unexport_disk(instance_uuid, source)


def undo_copy(driver, instance_uuid, source, dest, size_gb):
    """copy_disk's revert: no export left, dest's copy gone, or a disk
    grown in place given its size_gb back."""
    stop_export(driver, instance_uuid, source)
    if not driver.shares_storage(source, dest):
        driver.delete_disk(instance_uuid, dest)
    elif source in driver.describe_host(instance_uuid, source)['disks']:
        driver.resize_disk(instance_uuid, source, size_gb, shrink=True)


def stop_export(driver, instance_uuid, host):
    """Stop host's export of the disk if one runs (one left by a crash
    between export and unexport, say); logged, never raised: what calls it
    is already undoing something."""
    try:
        if driver.unexport_disk(instance_uuid, host):
            LOG.info('Export of the disk of %s on %s stopped', instance_uuid, host)
    except exception.AgentTooOld:
        pass        # such an agent never exports
    except exception.MoveOrchestratorException as e:
        LOG.warning('Export of the disk of %s on %s could not be stopped: %s',
                    instance_uuid, host, e)


def delete_disk(driver, instance_uuid, host, other, shared=None):
    """Delete host's disk, unless it is the one ``other`` uses too (one
    storage group): a host never deletes a disk from under another.
    ``shared``: the caller asked shares_storage(host, other) already."""
    if shared is None:
        shared = host != other and driver.shares_storage(host, other)
    if shared:
        LOG.info('Disk of %s kept: %s and %s share it', instance_uuid, host, other)
        return False
    return driver.delete_disk(instance_uuid, host)


def remove_instance(driver, instance_uuid, host, other):
    """Delete what host has of the instance, domain and disk (delete_disk's
    rule), once ``other`` runs it: whether they share the disk is asked
    meanwhile."""
    _destroyed, shared = driver.at_once(
        lambda: driver.destroy(instance_uuid, host),
        lambda: host != other and driver.shares_storage(host, other))
    return delete_disk(driver, instance_uuid, host, other, shared)


def source_facts(driver, instance_uuid, source, dest):
    """The source's part of the world (describe_host), and what a live
    migration's destination is built from, asked at once: one round trip
    to the source's agent (the facts that Nova's live migration pre-checks
    hand on as migrate_data). Returns (world, facts); facts None where
    the source could not say them (the world tells why: no domain, say),
    and PrepareIncoming asks again then."""
    def asked(call):
        def ask():
            try:
                return call()
            except exception.MoveOrchestratorException as e:
                LOG.debug('%s: %s', instance_uuid, e)
                return _UNKNOWN
        return ask
    world, topology, shared = driver.at_once(
        lambda: driver.describe_host(instance_uuid, source),
        asked(lambda: driver.topology(instance_uuid, source)),
        asked(lambda: driver.shares_storage(source, dest)))
    if _UNKNOWN in (topology, shared):
        return world, None
    disk = world['disks'].get(source)
    return world, {'topology': topology, 'shared': shared,
                   'disk_bytes': _bytes(disk) if disk else None}


def accept_incoming(driver, spec, source, dest, facts=None):
    """dest accepts the live migration from source (accept_migration),
    built as the source's domain is, with a disk as large as the source's;
    returns what the source needs to reach it. None from an agent too old
    to accept (before API 1.7): it is prepared as before, and the source
    reaches it through its files. ``facts``: source_facts' (else asked)."""
    spec = _incoming_spec(driver, spec, source, dest, facts)
    try:
        return driver.accept_migration(spec, dest, source)
    except exception.AgentTooOld:
        driver.prepare_incoming(spec, dest)
        return None


def confirm_arrival(driver, instance_uuid, dest, migration):
    """After the switch-over: dest confirms that the guest arrived and
    runs. Returns the finished ``migration`` with what dest saw of it
    (with_arrival)."""
    return with_arrival(migration, arrival(driver, instance_uuid, dest))


def end_migration(driver, complete, instance_uuid, dest):
    """``complete()`` (the source ends the live migration) while dest
    confirms the arrival: dest's agent waits for the guest, so both take
    one round trip. An agent that answered before the guest ran (one that
    did not wait yet) is asked again once complete() returned. Returns
    complete()'s answer and dest's, or raises complete()'s error."""
    def confirm():
        try:
            return arrival(driver, instance_uuid, dest), None
        except (exception.MigrationFailed, exception.WorldDiverged) as e:
            return None, e
    ended, (arrived, early) = driver.at_once(complete, confirm)
    if early is not None:
        LOG.debug('%s: arrival on %s asked again after the completion: %s',
                  instance_uuid, dest, early)
        arrived = arrival(driver, instance_uuid, dest)
    return ended, arrived


def arrival(driver, instance_uuid, dest):
    """dest's word that the guest arrived and runs there (confirm_incoming;
    its domain, from an agent too old to confirm); WorldDiverged if not."""
    try:
        arrived = driver.confirm_incoming(instance_uuid, dest)
    except exception.AgentTooOld:
        arrived = domain_on(driver, instance_uuid, dest)
    if arrived is None or arrived['state'] != base.RUNNING:
        raise exception.WorldDiverged(
            instance=instance_uuid,
            reason='destination %s does not run the instance' % dest)
    return arrived


def with_arrival(migration, arrived):
    """The finished ``migration`` with what dest measured of it that the
    source could not (its figures; the guest's pause from the source's
    STOP to dest's RESUME)."""
    if migration and arrived.get('figures'):
        # What the source could not see of it (the downtime, say).
        migration = dict(migration, **{
            key: value for key, value in arrived['figures'].items()
            if migration.get(key) is None})
    if migration and migration.get('guest_pause_ms') is None and \
            migration.get('stopped_at') and arrived.get('resumed_at'):
        migration = dict(migration, guest_pause_ms=round(
            (arrived['resumed_at'] - migration['stopped_at']) * 1000, 3))
    return migration


def prepare_incoming(driver, spec, source, dest):
    """Start dest waiting for the live migration from source, as before
    API 1.7: the source makes it listen, through its files."""
    driver.prepare_incoming(_incoming_spec(driver, spec, source, dest), dest)


def _incoming_spec(driver, spec, source, dest, facts=None):
    """spec, with the source's topology and disk size (from ``facts``, or
    asked)."""
    uuid = spec['uuid']
    if facts is None:
        topology, shared = driver.at_once(
            lambda: driver.topology(uuid, source),
            lambda: driver.shares_storage(source, dest))
        disk_bytes = None
    else:
        topology, shared, disk_bytes = (facts['topology'], facts['shared'],
                                        facts['disk_bytes'])
    if topology:
        spec = dict(spec, topology=topology)
    if not shared:
        if facts is None:
            disk = driver.describe_host(uuid, source)['disks'].get(source)
            disk_bytes = _bytes(disk) if disk else None
        if disk_bytes is None:
            raise exception.DriverError(operation='prepare_incoming',
                                        reason='instance %s has no disk on %s'
                                        % (uuid, source))
        spec = dict(spec, disk_bytes=disk_bytes)
    return spec


def _bytes(disk):
    return int(round(disk['size_gb'] * GIB))


def undo_prepare_incoming(driver, instance_uuid, source, dest):
    """prepare/accept_incoming's revert: dest's domain and disk gone, unless
    the guest lives there alone (GuestOnlyOnDestination)."""
    _check_not_only_on(driver, instance_uuid, dest, source)
    driver.destroy(instance_uuid, dest)
    delete_disk(driver, instance_uuid, dest, source)


def switched_over(driver, instance_uuid, source, dest):
    """Whether the live migration's guest was switched over to dest, as the
    hosts tell, whatever was recorded of it: dest runs it, and the source
    holds it no more (no domain running, none paused before the
    switch-over: libvirt undefines the source, QEMU leaves it
    ``migrated``). Before the switch-over the source runs the guest, or
    holds it paused, and dest does not run it: this is never true then."""
    return _runs_on(driver, instance_uuid, dest) and \
        _left(driver, instance_uuid, source, dest)


def domain_on(driver, instance_uuid, host):
    """host's domain as host alone says it (a driver whose describe asks
    every host would ask the whole cloud), or None."""
    return driver.describe_host(instance_uuid, host)['domains'].get(host)


def _runs_on(driver, instance_uuid, host):
    there = domain_on(driver, instance_uuid, host)
    return there is not None and there['state'] == base.RUNNING


def _left(driver, instance_uuid, source, dest):
    """Whether the source holds the guest no more (dest runs it)."""
    if source == dest:
        return False
    left = domain_on(driver, instance_uuid, source)
    return left is None or bool(left.get('migrated')) or \
        left['state'] not in (base.RUNNING, base.PAUSED)


def _check_not_only_on(driver, instance_uuid, dest, source):
    """Refuse to undo a destination the guest was switched over to while
    nobody recorded it (the conductor and the source's agent restarted
    since, say: no cancel refused); the move can only be resumed then,
    which rolls it forward (switched_over). A dest that is down cannot be
    asked, and its cleanup is left to its agent as before."""
    try:
        runs = _runs_on(driver, instance_uuid, dest)
    except exception.HostUnavailable:
        return
    if runs and _left(driver, instance_uuid, source, dest):
        raise exception.GuestOnlyOnDestination(instance=instance_uuid, host=dest)
