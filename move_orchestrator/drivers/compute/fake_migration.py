"""The fake driver's live migration: a row per instance that each poll
moves on, switched over the moment it converges (as the host side of a
real driver does); its stall model is fake_stall.py's.
"""

import time

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import fake_operations
from move_orchestrator.drivers.compute import fake_stall
from move_orchestrator import exception


# A simulated pass over the memory: the longest a wait_migration waits.
PASS_SECONDS = 0.05
# The longest confirm_incoming waits for a guest on its way.
ARRIVAL_WAIT = 30


class FakeMigrationMixin(fake_stall.FakeStallMixin):
    """Live migration operations of FakeDriver."""

    def wait_migration(self, instance_uuid, timeout, source=None,
                       wake_at_pass=True, look_at_passes=True):
        """Answers at the next simulated pass, as the qemu driver answers
        when QEMU starts one: the migration moves on at each poll, so its
        pace is the fake's own, not the conductor's poll_interval (whatever
        ``wake_at_pass`` and ``look_at_passes``)."""
        time.sleep(min(timeout, PASS_SECONDS))
        return self.poll_migration(instance_uuid)

    @fake_operations.operation
    def prepare_incoming(self, spec, host):
        with self._db.session() as s:
            # An earlier move's finished migration stays on record until
            # the next start_migration, as QEMU's does.
            if self._one(s, models.FakeDisk, spec['uuid'], host) is None:
                # The mirror target: the source's disk comes with the
                # migration (the fake's copy, from its row, at once).
                src = s.scalars(sa.select(models.FakeDisk).filter_by(
                    instance_uuid=spec['uuid'])).first()
                if src is None:
                    self._fail('prepare_incoming', 'instance %s has no disk'
                               % spec['uuid'])
                s.add(models.FakeDisk(
                    instance_uuid=spec['uuid'], host=host,
                    size_gb=src.size_gb, image=src.image,
                    checksum=src.checksum))
            dom = self._one(s, models.FakeDomain, spec['uuid'], host)
            if dom is None:
                s.add(models.FakeDomain(
                    instance_uuid=spec['uuid'], host=host,
                    state=base.INCOMING, vcpus=spec['vcpus'],
                    ram_mb=spec['ram_mb']))
            elif dom.state != base.INCOMING:
                self._fail('prepare_incoming', 'a %s domain of %s already '
                           'exists on %s' % (dom.state, spec['uuid'], host))

    def accept_migration(self, spec, host, source):
        """prepare_incoming (its delay and faults); what a source would
        need to reach host."""
        self.prepare_incoming(spec, host)
        return {'host': host, 'uri': 'fake://%s' % host, 'nbd': None}

    @fake_operations.operation
    def confirm_incoming(self, instance_uuid, host):
        """Waits while the migration to host is still to be switched over
        (a post-copy's, until complete_migration), as a real one waits."""
        deadline = time.monotonic() + ARRIVAL_WAIT
        while True:
            with self._db.session() as s:
                dom = self._one(s, models.FakeDomain, instance_uuid, host)
                if dom is not None and dom.state == base.RUNNING:
                    return {'host': host, 'state': base.RUNNING}
                mig = s.get(models.FakeMigration, instance_uuid)
                arriving = mig is not None and mig.dest_host == host and \
                    mig.status in base.MIGRATION_ACTIVE
            if not arriving or time.monotonic() > deadline:
                raise exception.MigrationFailed(
                    instance=instance_uuid, reason='the guest does not run on %s'
                    % host)
            time.sleep(PASS_SECONDS / 5)

    @fake_operations.operation
    def start_migration(self, instance_uuid, source, dest, migration_id=None,
                        incoming=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is not None and mig.status in base.MIGRATION_ACTIVE:
                if (mig.source_host, mig.dest_host, mig.migration_id) == (
                        source, dest, migration_id):
                    return self._migration_dict(mig)
                self._fail('start_migration', 'a migration of %s from %s to %s '
                           '(%s) is in progress' % (instance_uuid, mig.source_host,
                                                    mig.dest_host,
                                                    mig.migration_id or 'no id'))
            src = self._one(s, models.FakeDomain, instance_uuid, source)
            dst = self._one(s, models.FakeDomain, instance_uuid, dest)
            if src is None or src.state != base.RUNNING:
                self._fail('start_migration', 'source domain on %s is not '
                           'running' % source)
            if dst is None or dst.state != base.INCOMING:
                self._fail('start_migration', 'destination on %s is not '
                           'waiting for a migration' % dest)
            if mig is not None:
                s.delete(mig)
                s.flush()
            self._end_transfer(s, instance_uuid)
            mig = models.FakeMigration(
                instance_uuid=instance_uuid, source_host=source,
                dest_host=dest, migration_id=migration_id,
                status=base.MIGRATION_RUNNING,
                total_mb=src.ram_mb, remaining_mb=src.ram_mb)
            s.add(mig)
            s.add(models.FakeTransfer(instance_uuid=instance_uuid,
                                      source_host=source, dest_host=dest,
                                      live=True))
            s.flush()
            started = self._migration_dict(mig)
        self._record_peaks(source, dest, True)
        return started

    @fake_operations.operation
    def poll_migration(self, instance_uuid, source=None):
        """Each poll copies 1/steps of the memory, then waits to switch."""
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid,
                        with_for_update=True)
            if mig is not None and mig.status == base.MIGRATION_RUNNING:
                if self._transfer_time:
                    # Started at created_at (a durable clock: a restarted
                    # conductor finds it as far along as it should be).
                    elapsed = (models.utcnow() - mig.created_at
                               ).total_seconds()
                    left = max(0.0, 1.0 - elapsed / self._transfer_time)
                    mig.remaining_mb = int(mig.total_mb * left)
                else:
                    step = max(1, -(-mig.total_mb // self._steps))
                    mig.remaining_mb = max(0, mig.remaining_mb - step)
                floor = self._stall_floor(mig)
                mig.remaining_mb = 0 if floor < 0 else max(mig.remaining_mb, floor)
                if mig.remaining_mb == 0:
                    self._switch_over(s, mig)
            return self._migration_dict(mig)

    def _switch_over(self, s, mig):
        """Converged: switched over at once, as the host side of a real
        driver does, in the transaction that saw it converge (a cancel's
        transaction comes before or after it, never between)."""
        src = self._one(s, models.FakeDomain, mig.instance_uuid,
                        mig.source_host)
        dst = self._one(s, models.FakeDomain, mig.instance_uuid,
                        mig.dest_host)
        if src is None or dst is None:
            mig.status = base.MIGRATION_FAILED
            self._end_transfer(s, mig.instance_uuid)
            return
        mig.remaining_mb = 0
        src.state, dst.state = base.PAUSED, base.RUNNING
        mig.status = base.MIGRATION_COMPLETED
        self._end_transfer(s, mig.instance_uuid)

    @fake_operations.operation
    def cancel_migration(self, instance_uuid, source=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid,
                        with_for_update=True)
            if mig is not None and mig.status == base.MIGRATION_COMPLETED:
                src = self._one(s, models.FakeDomain, instance_uuid,
                                mig.source_host)
                if src is not None and src.state == base.PAUSED:
                    # Switched over, its source not cleaned up yet.
                    raise exception.MigrationPastSwitchover(
                        instance=instance_uuid)
            if mig is None or mig.status not in base.MIGRATION_ACTIVE:
                return False
            mig.status = base.MIGRATION_CANCELLED
            self._resume_if_paused(s, mig)
            self._end_transfer(s, instance_uuid)
            return True

    @fake_operations.operation
    def force_complete_migration(self, instance_uuid, source=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid,
                        with_for_update=True)
            if mig is None or mig.status not in base.MIGRATION_ACTIVE:
                raise exception.MigrationNotRunning(
                    instance=instance_uuid,
                    status=mig.status if mig else 'none started')
            if mig.status == base.MIGRATION_RUNNING:
                self._tune(s, mig, base.TUNE_POST_COPY
                           if self.conf.fake_driver.permit_post_copy
                           else base.TUNE_PAUSE, None)

    @fake_operations.operation
    def tune_migration(self, instance_uuid, action, params=None, source=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is None or mig.status != base.MIGRATION_RUNNING:
                self._fail('tune_migration', 'no memory copy of %s is running'
                           % instance_uuid)
            return self._tune(s, mig, action, params)

    @fake_operations.operation
    def complete_migration(self, instance_uuid, source=None):
        with self._db.session() as s:
            mig = s.get(models.FakeMigration, instance_uuid)
            if mig is not None and mig.status == base.MIGRATION_COMPLETED:
                return
            if mig is None or mig.status != base.MIGRATION_READY:
                self._fail('complete_migration', 'migration of %s has not '
                           'converged' % instance_uuid)
            src = self._one(s, models.FakeDomain, instance_uuid,
                            mig.source_host)
            dst = self._one(s, models.FakeDomain, instance_uuid,
                            mig.dest_host)
            if src is None or dst is None:
                self._fail('complete_migration', 'a domain disappeared')
            src.state, dst.state = base.PAUSED, base.RUNNING
            mig.status = base.MIGRATION_COMPLETED
            self._end_transfer(s, instance_uuid)
