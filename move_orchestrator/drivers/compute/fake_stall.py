"""The fake driver's model of a live migration that stalls, and of what
the stall policy does to it (tune_migration), after the qemu driver's:
auto-converge throttles the guest more at every pass (here: every poll),
post-copy switches over at once where permitted, and a paused guest
dirties nothing, so its copy converges at the next pass.
"""

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.drivers.compute import base

MAX_THROTTLE = 99


class FakeStallMixin:

    def _stall_floor(self, mig):
        """The remaining MB a stalled migration cannot get below, after
        this pass's throttle increase."""
        if mig.throttle_step and mig.throttle_pct:
            mig.throttle_pct = min(MAX_THROTTLE, mig.throttle_pct + mig.throttle_step)
        if mig.paused:
            return -1           # nothing dirtied: done at this pass
        limit = self.conf.fake_driver.migration_stall_throttle
        if limit and mig.throttle_pct < limit:
            return max(1, mig.total_mb // 2)
        return 0

    def _tuning_dict(self, m):
        return {'throttle_pct': m.throttle_pct, 'postcopy': m.postcopy,
                'paused': m.paused,
                'postcopy_permitted': self.conf.fake_driver.permit_post_copy}

    def _tune(self, s, mig, action, params):
        """tune_migration on the row, in the caller's transaction."""
        if action == base.TUNE_AUTO_CONVERGE:
            params = params or {}
            mig.throttle_step = int(params.get('increment', 10))
            if not mig.throttle_pct:
                mig.throttle_pct = int(params.get('initial', 20))
            return {'initial': mig.throttle_pct, 'increment': mig.throttle_step}
        if action == base.TUNE_POST_COPY:
            if not self.conf.fake_driver.permit_post_copy:
                self._fail('tune_migration', 'the live migration of %s cannot '
                           'switch to post-copy: not permitted' % mig.instance_uuid)
            mig.postcopy = True
            mig.remaining_mb = 0
            mig.status = base.MIGRATION_READY
            return {'postcopy': True}
        if action == base.TUNE_PAUSE:
            mig.paused = True
            self._set_source(s, mig, base.PAUSED)
            return {'paused': True}
        self._fail('tune_migration', 'unknown action %r' % (action,))

    def _set_source(self, s, mig, state):
        src = s.scalars(sa.select(models.FakeDomain).filter_by(
            instance_uuid=mig.instance_uuid, host=mig.source_host)).first()
        if src is not None:
            src.state = state

    def _resume_if_paused(self, s, mig):
        """A migration the guest was paused for ended without it."""
        if mig.paused:
            self._set_source(s, mig, base.RUNNING)
