"""The stall policy of a live migration's memory copy: the orchestrator's,
whatever the driver.

Progress is a new low of the remaining bytes. Within one pass over the
memory they always fall (what was dirty is sent) and rise again at the next
pass (what the guest dirtied meanwhile), so a low taken at any moment is
reached again and again by a migration that never converges: that is why a
timeout on it "does not work". Where the driver numbers its passes
(``iteration``), only the first look at each pass counts, which is the
size of what that pass has to send; a driver without passes is measured at
every look. A low counts when it is 1% of the migration's total below the
best so far, so that the noise of a copy that stands still is no progress.

When ``[live_migration] progress_timeout`` has passed without progress, the
next action of ``stall_actions`` is due at the start of the next pass: a
pass still sending (a long one, after a pause say) cannot be judged yet,
unless its remaining bytes have not fallen at all for the timeout (a copy
that stands still within its pass, with something left to send). The
clock then starts again, so every action has the whole timeout to work,
and the pass under way when it was taken and the next one are not judged:
the next one still carries what the guest dirtied before the action took
hold (on a loaded host, that can be a whole pass, longer than a short
timeout).

Passes are counted from a tenth of the timeout into the copy
(``UNCOUNTED``): no action can be due before the timeout anyway, and a copy
that ends sooner (most do) is then not looked at, at each pass, by the
conductor, whose looks take the cores and the source's main loop from the
copy. The pass under way when counting starts may have been seen only part
way, so the first pass counted is the next one: an action is due at most a
tenth of the timeout and a pass later than if every pass were counted.
"""

MARGIN = 0.01       # of the total: what a new low must beat the best by
# The share of progress_timeout, from the copy's start, whose passes are
# not counted.
UNCOUNTED = 0.1
BY = 'stall policy'
TOO_LATE = 'too late: the migration switched over; it completes'


class StallWatch:
    """Feed it every poll of a running migration; it says when the next
    action is due. ``taken``: how many of the actions were taken already
    (by a run of the step before a restart). ``uncounted``: seconds from
    ``now`` whose passes are not counted (UNCOUNTED of the timeout, the
    step's)."""

    @classmethod
    def of(cls, policy, now, taken=0):
        """The watch of ``[live_migration]`` ``policy``: its passes counted
        from UNCOUNTED of its timeout on."""
        return cls(policy.progress_timeout, policy.stall_actions, now,
                   taken=taken,
                   uncounted=policy.progress_timeout * UNCOUNTED)

    def __init__(self, timeout, actions, now, taken=0, uncounted=0.0):
        self.timeout = timeout
        self.actions = list(actions)
        self.taken = taken
        self.counts_from = now + uncounted
        self.since = self.counts_from
        self.best = None
        self.iteration = None
        self.last = None            # remaining at the previous look
        self.last_fall = now        # when it last fell within the pass
        self.acted_in = None        # the pass under way at the last action
        self.seen_uncounted = False  # a pass seen before counting began

    def due(self, migration, now):
        """Whether the next action is due, after this poll."""
        if not self._acting():
            return False
        iteration = migration.get('iteration')
        remaining = migration['remaining_mb']
        new_pass = iteration is None or iteration != self.iteration
        if new_pass:
            self.iteration = iteration
            self.last_fall = now
            margin = MARGIN * (migration.get('total_mb') or 0)
            if now < self.counts_from:
                self.seen_uncounted = True
            elif self.seen_uncounted:
                # Begun, maybe, before counting did: seen part way, its
                # remaining bytes are not its size.
                self.seen_uncounted = False
            elif self.best is None or remaining < self.best - margin:
                self.best = remaining
                self.since = now
        elif self.last is None or remaining < self.last:
            self.last_fall = now
        self.last = remaining
        if now - self.since < self.timeout or remaining <= 0:
            # A pass with nothing left to send is not stuck, even a new
            # one: it waits for the switch-over (QEMU's device state, the
            # host side's continue), which a loaded host may take seconds
            # to reach.
            return False
        stands_still = now - self.last_fall >= self.timeout
        if (self.acted_in is not None and iteration is not None
                and iteration <= self.acted_in + 1):
            return stands_still
        return new_pass or stands_still

    def quiet_until(self):
        """No action can be due before this time (monotonic; inf: none
        left): a wait that ends before it need not end at a new pass."""
        if not self._acting():
            return float('inf')
        return self.since + self.timeout

    def counting(self, at):
        """Whether passes seen at ``at`` (monotonic) are counted: a wait
        that ends before counting begins need not look at them."""
        return self._acting() and at >= self.counts_from

    def _acting(self):
        """The policy is on and has an action left."""
        return bool(self.timeout) and self.taken < len(self.actions)

    def next_action(self, now):
        """The action to take now; the clock starts again. None: none left."""
        if self.taken >= len(self.actions):
            return None
        action = self.actions[self.taken]
        self.taken += 1
        self.since = now
        self.acted_in = self.iteration
        return action


def figures(migration):
    """What triggered an action, as the task's history records it."""
    keys = ('remaining_mb', 'total_mb', 'dirty_rate_mb_s', 'bandwidth_mb_s',
            'throttle_pct', 'iteration')
    return {k: migration.get(k) for k in keys}


def taken_before(events):
    """The stall actions a run of the step before this one took (or
    skipped): a restarted step carries on from there. An abort refused as
    too late was counted once, when it was taken."""
    return sum(1 for e in events if e['kind'] == 'action'
               and e['state'] != 'refused'
               and (e['detail'] or {}).get('by') == BY)


def stall_reason(action, watch, migration, timeout):
    """Why the policy aborts, in the terms of the option that did it."""
    f = figures(migration)
    return ('no new low of its remaining memory for %gs (%s MiB left, best %s '
            'MiB; dirty rate %s MiB/s, bandwidth %s MiB/s, CPU throttle %s%%) '
            'after %s: aborted by [live_migration] stall_actions'
            % (timeout, f['remaining_mb'], watch.best, f['dirty_rate_mb_s'],
               f['bandwidth_mb_s'], f['throttle_pct'],
               ', '.join(watch.actions[:watch.taken - 1]) or 'no other action'))
