"""What the qemu driver does to a live migration that stalls.

The orchestrator decides (steps/stall.py); this carries its actions out in
QEMU, and reads the figures it decides by:

* ``auto_converge``: QEMU's auto-converge throttles the vCPUs at each pass
  over the memory that dirtied more than ``throttle-trigger-threshold`` % of
  what it sent. QEMU refuses to turn a capability on while a migration runs,
  so every migration starts with it on and the throttle held off: a trigger
  threshold of 100 % and a ceiling of 1 % (``max-cpu-throttle`` cannot be
  lower than ``cpu-throttle-initial``, whose floor is 1). The action lifts
  the hold with ``migrate-set-parameters``, which QEMU takes mid-migration.
  A throttle QEMU already started at the 1 % ceiling grows from there by
  the increment.
* ``pause``: ``stop`` the source, which then dirties nothing: the copy
  converges at the next pass, and the guest's pause lasts until the
  switch-over. The destination of a paused source stays paused too (QEMU
  carries the run state over), so the switch-over resumes it; a cancel
  resumes the source (``_cancel`` does for any migration).
* ``post_copy``: force_complete_migration, where the migration permits it.
"""

from oslo_log import log as logging

from move_orchestrator.drivers.compute import base
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

MIB = 1 << 20
CAPABILITY = {'capability': 'auto-converge', 'state': True}
# The throttle held off until the policy asks for it.
HELD = {'cpu-throttle-initial': 1, 'max-cpu-throttle': 1,
        'throttle-trigger-threshold': 100}
QEMU_TRIGGER_THRESHOLD = 50     # QEMU's default
MAX_THROTTLE = 99


def figures(info):
    """What the stall policy and the task's history read of query-migrate."""
    ram = info.get('ram') or {}
    page = ram.get('page-size') or 4096
    return {'iteration': ram.get('dirty-sync-count', 0),
            'dirty_rate_mb_s': round(ram.get('dirty-pages-rate', 0) * page / MIB, 3),
            # QEMU's mbps is megabits (10^6) per second.
            'bandwidth_mb_s': round(ram.get('mbps', 0) * 1e6 / 8 / MIB, 3),
            'throttle_pct': info.get('cpu-throttle-percentage', 0)}


def _percent(params, key, default):
    value = (params or {}).get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_THROTTLE:
        raise exception.DriverError(
            operation='tune_migration', reason='auto_converge %s must be a '
            'percentage from 1 to %d, not %r' % (key, MAX_THROTTLE, value))
    return value


class StallMixin:
    """tune_migration of QemuDriver, and the pause of force-complete."""

    def tune_migration(self, instance_uuid, action, params=None, source=None):
        if action not in base.TUNE_ACTIONS:
            raise exception.DriverError(
                operation='tune_migration', reason='unknown action %r (one of '
                '%s)' % (action, ', '.join(base.TUNE_ACTIONS)))
        current = self.poll_migration(instance_uuid, act=False)
        if current is None or current['status'] != base.MIGRATION_RUNNING:
            raise exception.DriverError(
                operation='tune_migration', reason='no memory copy of %s is '
                'running (%s)' % (instance_uuid, current and current['status']))
        rec = self._record(instance_uuid)
        if action == base.TUNE_PAUSE:
            return self.pause_to_finish(instance_uuid, rec)
        if action == base.TUNE_POST_COPY:
            if not rec.get('postcopy_permitted', True):
                raise exception.DriverError(
                    operation='tune_migration', reason='the live migration of %s '
                    'cannot switch to post-copy: [qemu] permit_post_copy was false '
                    'when it started' % instance_uuid)
            self.force_complete_migration(instance_uuid)
            return {'postcopy': True}
        initial = _percent(params, 'initial', 20)
        increment = _percent(params, 'increment', 10)
        src = self._domain(instance_uuid, rec['source'])
        with src.qmp() as q:
            q.execute('migrate-set-parameters', **{
                'cpu-throttle-initial': initial, 'cpu-throttle-increment': increment,
                'max-cpu-throttle': MAX_THROTTLE,
                'throttle-trigger-threshold': QEMU_TRIGGER_THRESHOLD})
        rec['auto_converge'] = {'initial': initial, 'increment': increment}
        self._save(instance_uuid, rec)
        LOG.info('Live migration of %s: auto-converge on (throttle from %d%%, '
                 '+%d%% a pass)', instance_uuid, initial, increment)
        return dict(rec['auto_converge'])

    def pause_to_finish(self, instance_uuid, rec):
        """Pause the source so that the copy converges (Nova's
        force-complete without post-copy). Recorded first: whoever finds
        the record knows to resume the guest."""
        if not rec.get('paused'):
            rec['paused'] = True
            self._save(instance_uuid, rec)
        src = self._domain(instance_uuid, rec['source'])
        with src.qmp() as q:
            if q.execute('query-status')['status'] == 'running':
                q.execute('stop')
        LOG.info('Live migration of %s: guest paused until the copy is over',
                 instance_uuid)
        return {'paused': True}
