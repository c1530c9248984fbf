"""What libvirt says of a live migration, read, never changed.

While it runs, the source's job (``jobStats()``: sizes and rates); once it
ended, the record in the domain's metadata (written failed or cancelled
when it ended so) and where the domain is: the source's job gone and the
domain on the destination, it completed. The migration's operations are
migration.py's.
"""

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.libvirt import domain_xml
from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator import exception

MIB = 1 << 20
FINAL = (base.MIGRATION_FAILED, base.MIGRATION_CANCELLED)
# libvirt runs the guest on the destination about 200 ms before the
# source's daemon ends its migration job (it ends the source QEMU, then
# looks again 200 ms later), and answers nothing about the domain
# meanwhile: the move asks the destination too (drivers/following.py).
ARRIVES_FIRST = True


def figures(stats):
    """jobStats() -> the migration dict's sizes and rates."""
    total = stats.get('memory_total', 0) + stats.get('disk_total', 0)
    remaining = stats.get('memory_remaining', 0) + stats.get('disk_remaining', 0)
    page = stats.get('memory_page_size', 4096)
    return {'total_mb': total / MIB, 'remaining_mb': remaining / MIB,
            'transferred_mb': stats.get('data_processed', 0) / MIB,
            'iteration': stats.get('memory_iteration'),
            'dirty_rate_mb_s': stats.get('memory_dirty_rate', 0) * page / MIB,
            'bandwidth_mb_s': stats.get('memory_bps', 0) / MIB,
            'downtime_ms': stats.get('downtime')}


class JobsMixin:
    """The reading of LibvirtDriver's MigrationMixin: the migration dict
    that poll_migration and describe answer."""

    def _poll_running(self, instance_uuid, rec):
        """This process's own migration while its call runs: one jobStats()
        of the source (the full poll reads both daemons' domains, and a
        poll every few ms that costs more slows the migration down).
        None when the job is not running there: the full poll tells."""
        lv = states.libvirt
        try:
            dom = self.conns.get(rec['source']).lookupByUUIDString(instance_uuid)
            stats = dom.jobStats(0)
            if stats.get('type') not in (lv.VIR_DOMAIN_JOB_BOUNDED,
                                         lv.VIR_DOMAIN_JOB_UNBOUNDED):
                return None
            paused = self._power(dom) == base.PAUSED
        except (lv.libvirtError, exception.DriverError):
            return None
        return dict(figures(stats), id=rec.get('id'), source=rec['source'],
                    dest=rec['dest'], started_at=rec.get('started_at'),
                    postcopy_permitted=rec.get('postcopy_permitted', False),
                    paused=paused, status=base.MIGRATION_RUNNING,
                    arrives_first=ARRIVES_FIRST)

    def _poll(self, instance_uuid, doms):
        """The last migration of the instance, from libvirt's truth."""
        rec = None
        for dom in doms.values():
            try:
                _, found = domain_xml.read(dom.XMLDesc(0))
            except states.libvirt.libvirtError:
                continue
            if found and (rec is None or found.get('started_at', 0)
                          >= rec.get('started_at', 0)):
                rec = found
        job = self._jobs.get(instance_uuid)
        if job and (rec is None or job['rec']['started_at'] > rec['started_at']):
            rec = job['rec']
        if rec is None:
            return None
        # This process's own thread of that migration, if it has one. One
        # whose connection broke (the source's libvirtd restarted) does not
        # know the end: libvirt does.
        mine = job if job and job['rec']['started_at'] == rec['started_at'] else None
        if mine is not None and states.connection_lost(mine['error']):
            mine = None
        src, dst = doms.get(rec['source']), doms.get(rec['dest'])
        result = {'id': rec.get('id'), 'source': rec['source'], 'dest': rec['dest'],
                  'started_at': rec.get('started_at'), 'total_mb': 0, 'remaining_mb': 0,
                  'postcopy_permitted': rec.get('postcopy_permitted', False),
                  'paused': False, 'arrives_first': ARRIVES_FIRST}
        if src is not None and states.job_active(src):
            result['status'] = base.MIGRATION_RUNNING
            result['paused'] = self._power(src) == base.PAUSED
            result.update(self._stats(src, 0))
        elif rec.get('status') in FINAL:
            result['status'] = rec['status']
            result['reason'] = rec.get('reason')
        elif mine is not None and mine['error'] is not None:
            result['status'] = (base.MIGRATION_CANCELLED
                                if states.is_aborted(mine['error'])
                                else base.MIGRATION_FAILED)
            result['reason'] = str(mine['error'])
        elif mine is not None and not mine['done'].is_set():
            result['status'] = base.MIGRATION_RUNNING
        elif mine is None and src is None and self.conns.knows(rec['source']) \
                and not self.conns.reachable(rec['source']):
            # Not "undefined there": unknown (its daemon restarting, say).
            result['status'] = base.MIGRATION_RUNNING
            result['reason'] = 'source host %s does not answer' % rec['source']
        elif mine is not None or (dst is not None and src is None):
            # Ended without error here (an agent that sees only its own
            # host: the domain left it), or found where it went.
            result['status'] = base.MIGRATION_COMPLETED
            if dst is not None:
                # KEEP: libvirt forgets a completed job's figures once read
                # without it, and every later poll (SwitchOverMigration's
                # second, a resumed step's) would find them gone.
                lv = states.libvirt
                result.update(self._stats(
                    dst, lv.VIR_DOMAIN_JOB_STATS_COMPLETED
                    | lv.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED))
        else:
            result.update(self._settled(src, dst))
        return result

    def _settled(self, src, dst):
        """No job and no end known (this process was gone, or lost its
        connection): where the guest runs says how it ended."""
        if src is not None and self._power(src) == base.RUNNING:
            return {'status': base.MIGRATION_FAILED,
                    'reason': 'ended without completing: the source runs'}
        if dst is not None and self._power(dst) == base.RUNNING:
            return {'status': base.MIGRATION_COMPLETED}
        # Between the two (libvirt reconnecting to its QEMUs): ask again.
        return {'status': base.MIGRATION_RUNNING}

    def _stats(self, dom, flag_value):
        try:
            return figures(dom.jobStats(flag_value))
        except states.libvirt.libvirtError:
            return {}
