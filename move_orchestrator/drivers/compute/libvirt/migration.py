"""Live migration the way Nova's libvirt driver does it.

libvirt's own peer-to-peer migration (``migrateToURI3`` with LIVE,
PEER2PEER, PERSIST_DEST and UNDEFINE_SOURCE; NON_SHARED_DISK over NBD
between hosts that do not share storage): the source's daemon drives the
copy and switches over by itself, so ``complete_migration`` has nothing to
order but checks the result. The call blocks until the end: it runs in a
thread of the driver, and its outcome is the thread's.

What survives the process is libvirt's: the migration (id, hosts) is in the
domain's metadata, which travels with it, and written there as failed or
cancelled when it ends so; the source's job says whether it still runs, the
domain's place whether it completed.

Whether the move has confirmed a completed migration (``complete_migration``
called) is kept there too, not in this process: the record starts
``confirmed: false`` and complete_migration writes ``true`` into the
destination's domain (live and persistent; the source's is undefined by
then). Until then a cancel refuses (MigrationPastSwitchover), also from an
agent restarted after libvirt switched over. A record without the mark,
written before it existed, counts as unconfirmed: refused, a cancel rolls
a move forward (it runs its migration step again), where a wrong cancel
would revert it with the guest on the destination.
"""

import threading
import time

from oslo_log import log as logging
import tenacity

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.libvirt import domain_xml
from move_orchestrator.drivers.compute.libvirt import hosts
from move_orchestrator.drivers.compute.libvirt import incoming
from move_orchestrator.drivers.compute.libvirt import jobs
from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

SOURCE_WAIT = 30    # seconds a cancel waits for the source's daemon
END_WAIT = 60       # seconds a destroy waits for the migration's end there


def flags(block, post_copy):
    lv = states.libvirt
    value = (lv.VIR_MIGRATE_LIVE | lv.VIR_MIGRATE_PEER2PEER
             | lv.VIR_MIGRATE_PERSIST_DEST | lv.VIR_MIGRATE_UNDEFINE_SOURCE)
    if block:
        value |= lv.VIR_MIGRATE_NON_SHARED_DISK
    else:
        # Declared shared by [libvirt] storage_groups: libvirt recognises
        # only the network filesystems it knows as shared, not a local one.
        value |= lv.VIR_MIGRATE_UNSAFE
    if post_copy:
        value |= lv.VIR_MIGRATE_POSTCOPY
    return value


class MigrationMixin(incoming.IncomingMixin, jobs.JobsMixin):
    """Live migration operations of LibvirtDriver (what libvirt says of
    one: jobs.py)."""

    def start_migration(self, instance_uuid, source, dest, migration_id=None,
                        incoming=None):
        current = self.poll_migration(instance_uuid)
        if current and current['status'] in base.MIGRATION_ACTIVE:
            if (current['source'], current['dest'], current['id']) == (
                    source, dest, migration_id):
                return current      # a re-run: it goes on
            raise exception.DriverError(
                operation='start_migration', reason='a migration of %s from %s '
                'to %s (%s) is in progress' % (instance_uuid, current['source'],
                                               current['dest'], current['id']))
        dom = self._dom(instance_uuid, source)
        if dom is None or self._power(dom) != base.RUNNING:
            raise exception.DriverError(operation='start_migration', reason='source '
                                        'domain on %s is not running' % source)
        block = not self.shares_storage(source, dest)
        post_copy = self.opts.permit_post_copy
        rec = {'id': migration_id, 'source': source, 'dest': dest,
               'block': block, 'postcopy_permitted': post_copy,
               'started_at': time.time(), 'confirmed': False}
        self._set_migration(dom, rec)
        lv = states.libvirt
        xml = domain_xml.retarget(dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE),
                                  self.disk_path(instance_uuid, dest),
                                  self.serial_path(instance_uuid, dest), rec)
        params = {lv.VIR_MIGRATE_PARAM_DEST_XML: xml,
                  lv.VIR_MIGRATE_PARAM_PERSIST_XML: xml}
        address = self.opts.migration_addresses.get(dest)
        if address:
            params[lv.VIR_MIGRATE_PARAM_URI] = 'tcp://%s' % address
            if block:
                params[lv.VIR_MIGRATE_PARAM_DISKS_URI] = 'tcp://%s' % address
        if block:
            params[lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = ['vda']
        if self.opts.max_bandwidth:
            params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = self.opts.max_bandwidth
        # The destination's agent said how its daemon is reached (an
        # agent reaches no other host's); one process that reaches both
        # knows it as well.
        dest_uri = (incoming or {}).get('uri') or self.conns.uri(dest)
        job = {'rec': rec, 'error': None, 'done': threading.Event()}
        job['thread'] = threading.Thread(
            target=self._migrate, args=(instance_uuid, source, dest_uri,
                                        params, flags(block, post_copy), job),
            name='migrate-%s' % instance_uuid, daemon=True)
        self._jobs[instance_uuid] = job
        job['thread'].start()
        # Answers once libvirt has the job: the poll sees it running.
        deadline = time.monotonic() + 10
        while (not job['done'].is_set() and not states.job_active(dom)
               and time.monotonic() < deadline):
            time.sleep(0.005)
        self._limit_downtime(instance_uuid, dom, job)
        return self.poll_migration(instance_uuid)

    def _limit_downtime(self, instance_uuid, dom, job):
        """[libvirt] downtime_limit_ms, once the job runs (as Nova sets
        it): libvirt takes it for the migration under way, and the memory
        copy starts after the destination is prepared, well after this."""
        limit = self.opts.downtime_limit_ms
        if not limit or job['done'].is_set():
            return
        try:
            dom.migrateSetMaxDowntime(limit, 0)
        except states.libvirt.libvirtError as e:
            LOG.warning('Live migration of %s: its downtime limit of %d ms '
                        'was not set: %s', instance_uuid, limit, e)

    def _migrate(self, instance_uuid, source, dest_uri, params, flag_value, job):
        """The migration, on a connection of its own: calls on the driver's
        connection to the source wait behind a running migrateToURI3."""
        conn = dom = None
        try:
            conn = states.libvirt.open(self.conns.uri(source))
            dom = conn.lookupByUUIDString(instance_uuid)
            dom.migrateToURI3(dest_uri, params, flag_value)
        except states.libvirt.libvirtError as e:
            job['error'] = e
            if states.connection_lost(e):
                LOG.warning('Live migration of %s: connection to the source lost '
                            '(%s); its end is read from libvirt', instance_uuid, e)
                return
            status = (base.MIGRATION_CANCELLED if states.is_aborted(e)
                      else base.MIGRATION_FAILED)
            # A cancel was asked for (an abort, a revert): no warning.
            log = LOG.info if status == base.MIGRATION_CANCELLED else LOG.warning
            log('Live migration of %s %s: %s', instance_uuid, status, e)
            try:
                if dom is not None:
                    self._set_migration(dom, dict(job['rec'], status=status,
                                                  reason=str(e)))
            except states.libvirt.libvirtError as e2:
                LOG.warning('Could not record the end of the migration: %s', e2)
        finally:
            job['done'].set()
            if conn is not None:
                hosts.Connections.close_one(conn)

    def poll_migration(self, instance_uuid, source=None):
        job = self._jobs.get(instance_uuid)
        if job is not None and not job['done'].is_set():
            running = self._poll_running(instance_uuid, job['rec'])
            if running is not None:
                return running
        try:
            return self._poll(instance_uuid, self._reachable_doms(instance_uuid))
        except states.libvirt.libvirtError as e:
            if not states.connection_lost(e):
                raise
            # A daemon went away between two calls (restarting): asked
            # again, it answers from a new connection or is left out.
            LOG.info('Polling the migration of %s: %s; asking again',
                     instance_uuid, e)
            return self._poll(instance_uuid, self._reachable_doms(instance_uuid))

    def migration_of(self, instance_uuid):
        """poll_migration reads nothing but the migration (describe reads
        every domain's XML and every disk as well): the agent's check of a
        complete_migration's source, right after libvirt's end."""
        return self.poll_migration(instance_uuid)

    def wait_migration(self, instance_uuid, timeout, source=None,
                       wake_at_pass=True, look_at_passes=True):
        """Answered the moment this process's migration call returns (a
        pass never ends the wait, nor is looked at)."""
        job = self._jobs.get(instance_uuid)
        if job is not None:
            job['done'].wait(timeout)
        else:
            time.sleep(timeout)
        return self.poll_migration(instance_uuid)

    def cancel_migration(self, instance_uuid, source=None):
        migration = self.poll_migration(instance_uuid)
        if migration is not None and migration['status'] == base.MIGRATION_COMPLETED \
                and self._unconfirmed(instance_uuid, migration):
            # libvirt switched the guest over by itself: a step that failed
            # after it rolls the move forward, never back.
            raise exception.MigrationPastSwitchover(instance=instance_uuid)
        if migration is None or migration['status'] not in base.MIGRATION_ACTIVE:
            return
        dom = self._source_dom(instance_uuid, migration['source'])
        try:
            if dom is not None:
                dom.abortJob()
        except states.libvirt.libvirtError as e:
            LOG.info('abortJob of %s: %s', instance_uuid, e)
        job = self._jobs.get(instance_uuid)
        if job is not None and job['rec']['started_at'] == migration.get('started_at'):
            job['done'].wait(30)
        elif dom is not None:
            # Started by a process now gone (a conductor killed): no thread
            # here writes its end, so the cancel does, once libvirt is done.
            states.wait_job_end(dom, 30)
            spec, rec = domain_xml.read(dom.XMLDesc(0))
            if rec and rec.get('id') == migration['id'] and \
                    self._power(dom) is not None and not states.job_active(dom):
                try:
                    self._set_migration(dom, dict(rec, status=base.MIGRATION_CANCELLED))
                except states.libvirt.libvirtError as e:
                    if not states.is_no_domain(e):
                        raise
        after = self.poll_migration(instance_uuid)
        if after and after['status'] == base.MIGRATION_COMPLETED:
            raise exception.MigrationPastSwitchover(instance=instance_uuid)
        if dom is not None and self._power(dom) == base.PAUSED:
            dom.resume()    # suspended by a force-complete: runs again

    def _migration_ended(self, instance_uuid, host):
        """Before host's domain is destroyed: the migration this process
        runs from host has ended. The move goes on once the guest runs on
        the destination (drivers/following.py), while libvirt still ends
        the source QEMU; destroying it under libvirt's job would fail that
        job's end."""
        job = self._jobs.get(instance_uuid)
        if job is None or job['rec']['source'] != host:
            return
        if not job['done'].wait(END_WAIT):
            LOG.warning('Live migration of %s: libvirt has not ended it on %s '
                        'after %ss; its domain is destroyed all the same',
                        instance_uuid, host, END_WAIT)
        elif states.connection_lost(job['error']):
            # The source's daemon restarted under it: once back, it ends
            # the migration's job itself.
            dom = self._source_dom(instance_uuid, host)
            if dom is not None:
                states.wait_job_end(dom, END_WAIT)

    def _source_dom(self, instance_uuid, source):
        """The source's domain, waiting a while for a daemon that does not
        answer (restarting: libvirt keeps its QEMUs, and the migration's
        end is its to tell); DriverError if it stays away."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(exception.DriverError),
            wait=tenacity.wait_fixed(0.2), reraise=True,
            stop=tenacity.stop_after_delay(SOURCE_WAIT))
        return retrying(self._dom, instance_uuid, source)

    def _unconfirmed(self, instance_uuid, migration):
        """Whether complete_migration has not yet confirmed the completed
        migration: the move that started it is still deciding (an earlier
        move's, which the domain's record keeps, was confirmed by its own
        move). Confirmed when this process's job or the domain's record
        says so; the record answers for a process started since (an agent
        restarted after libvirt switched over). A record without the mark
        (written before it existed), or none found, is unconfirmed."""
        job = self._jobs.get(instance_uuid)
        if job is not None and job.get('confirmed') and \
                job['rec']['started_at'] == migration.get('started_at'):
            return False
        rec = self._record_of(instance_uuid, migration)
        return not (rec and rec.get('confirmed') is True)

    def _record_of(self, instance_uuid, migration):
        """The migration's record as a domain keeps it: the destination's
        (the source is undefined once it completed), else the source's;
        None when neither answers with it."""
        for host in (migration['dest'], migration['source']):
            try:
                dom = self._dom(instance_uuid, host)
                if dom is None:
                    continue
                _, rec = domain_xml.read(dom.XMLDesc(0))
            except (exception.DriverError, states.libvirt.libvirtError) as e:
                LOG.info('Record of the migration of %s on %s not read: %s',
                         instance_uuid, host, e)
                continue
            if rec and rec.get('started_at') == migration.get('started_at'):
                return rec
        return None

    def _confirm(self, dom, migration):
        """complete_migration's mark, in the record the destination's domain
        keeps (live and persistent); once is enough."""
        _, rec = domain_xml.read(dom.XMLDesc(0))
        if rec is None or rec.get('confirmed') is True or \
                rec.get('started_at') != migration.get('started_at'):
            return
        self._set_migration(dom, dict(rec, confirmed=True))

    def force_complete_migration(self, instance_uuid, source=None):
        migration = self.poll_migration(instance_uuid)
        if migration is None or migration['status'] not in base.MIGRATION_ACTIVE:
            raise exception.MigrationNotRunning(
                instance=instance_uuid,
                status=migration['status'] if migration else 'none started')
        action = (base.TUNE_POST_COPY if migration['postcopy_permitted']
                  else base.TUNE_PAUSE)
        self.tune_migration(instance_uuid, action)

    def tune_migration(self, instance_uuid, action, params=None, source=None):
        migration = self.poll_migration(instance_uuid)
        if migration is None or migration['status'] not in base.MIGRATION_ACTIVE:
            raise exception.DriverError(operation='tune_migration',
                                        reason='no migration of %s is running'
                                        % instance_uuid)
        dom = self._dom(instance_uuid, migration['source'])
        if action == base.TUNE_POST_COPY and migration['postcopy_permitted']:
            dom.migrateStartPostCopy(0)
        elif action == base.TUNE_PAUSE:
            if self._power(dom) != base.PAUSED:
                dom.suspend()
        else:
            raise exception.DriverNotSupported(
                driver='libvirt', operation='%s on a running migration' % action)
        return {'action': action}

    def complete_migration(self, instance_uuid, timeout=60, source=None):
        """libvirt switched over by itself: wait for its end, mark it
        confirmed (a cancel no longer refuses), and run a destination that
        a suspended (force-completed) source left paused. Answers the
        finished migration, so the move needs no second poll (one more
        round trip to the agent on the guest's way to its new home)."""
        deadline = time.monotonic() + timeout
        migration = self.poll_migration(instance_uuid)
        while (migration and migration['status'] in base.MIGRATION_ACTIVE
               and time.monotonic() < deadline):
            time.sleep(0.02)
            migration = self.poll_migration(instance_uuid)
        if migration is None or migration['status'] != base.MIGRATION_COMPLETED:
            raise exception.DriverError(
                operation='complete_migration', reason='migration of %s is %s'
                % (instance_uuid, migration and migration['status']))
        job = self._jobs.get(instance_uuid)
        if job is not None and job['rec']['started_at'] == migration.get('started_at'):
            job['confirmed'] = True
        dom = (self._dom(instance_uuid, migration['dest'])
               if self.conns.knows(migration['dest']) else None)
        if dom is None:
            return migration    # another agent's host: the migration says enough
        self._confirm(dom, migration)
        # libvirt resumes the destination itself at the end (also when a
        # restarted source daemon finishes it): given a moment, it runs.
        settle = time.monotonic() + 5
        while self._power(dom) == base.PAUSED and time.monotonic() < settle:
            time.sleep(0.05)
        if self._power(dom) == base.PAUSED:
            try:
                dom.resume()     # a force-completed (suspended) guest
            except states.libvirt.libvirtError as e:
                if states.error_code(e) != states.libvirt.VIR_ERR_OPERATION_INVALID:
                    raise
                LOG.info('Destination of %s runs already: %s', instance_uuid, e)
        return migration
