"""The destination's side of a libvirt live migration.

libvirt's peer-to-peer migration makes the destination's domain itself: the
destination readies the disk the migration copies into, says how its daemon
is reached, and after the switch-over confirms that the guest runs there
(waiting while it is on its way: the conductor asks it together with the
source's complete_migration).
"""

import os
import time

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.libvirt import domain_xml
from move_orchestrator.drivers.compute.libvirt import jobs
from move_orchestrator.drivers.compute.libvirt import states
from move_orchestrator import exception

# Seconds a paused destination may take to run: as long as
# complete_migration waits for the job's end.
ARRIVAL_WAIT = 60
# Seconds between two looks for a domain libvirt has not made yet, and for
# a paused one to run, where the host's daemon sends no lifecycle events
# (events.py): the first is the migration's setup (the destination QEMU
# starting), the second the guest's last milliseconds on the source.
LOOK_ABSENT = 0.05
LOOK_PAUSED = 0.01
# Where it sends them, each wakes the wait: this look is for one that was
# lost (its connection closed and was opened again).
LOOK_AGAIN = 0.5


class IncomingMixin:
    """prepare_incoming, accept_migration and confirm_incoming of
    LibvirtDriver, and the migration record both ends write."""

    def _set_migration(self, dom, rec):
        spec, _ = domain_xml.read(dom.XMLDesc(0))
        lv = states.libvirt
        dom.setMetadata(lv.VIR_DOMAIN_METADATA_ELEMENT,
                        domain_xml.metadata_text(spec, rec), 'mo', domain_xml.NS,
                        lv.VIR_DOMAIN_AFFECT_LIVE | lv.VIR_DOMAIN_AFFECT_CONFIG)

    def prepare_incoming(self, spec, host):
        """libvirt makes the destination domain itself: this checks the
        daemon answers and makes the disk the migration copies into."""
        self.conns.get(host)
        uuid = spec['uuid']
        self._make_incoming_disk(spec, host)
        os.makedirs(self._host_dir(uuid, host), exist_ok=True)
        if self._dom(uuid, host) is not None:
            raise exception.DriverError(
                operation='prepare_incoming', reason='a domain of %s already '
                'exists on %s' % (uuid, host))
        # Until destroy undoes it: confirm_incoming waits for the domain
        # libvirt makes when the migration reaches here.
        self._incoming[uuid] = host

    def accept_migration(self, spec, host, source):
        """The source's daemon reaches host's itself (peer to peer): what
        is left to the destination is prepare_incoming's."""
        self.prepare_incoming(spec, host)
        return {'host': host, 'uri': self.conns.inbound(host), 'nbd': None}

    def confirm_incoming(self, instance_uuid, host):
        """Waits while the guest is on its way (the conductor asks this
        together with the source's complete_migration). Also marks the
        record host's domain keeps confirmed, where complete_migration
        could not (a move resumed after nothing knew of the switch-over any
        more: no source to ask): a later cancel must not take this
        migration for one still being decided."""
        dom = self._arrived(instance_uuid, host)
        _, rec = domain_xml.read(dom.XMLDesc(0))
        if rec and rec.get('dest') == host and rec.get('confirmed') is not True \
                and rec.get('status') not in jobs.FINAL:
            self._set_migration(dom, dict(rec, confirmed=True))
        return self._arrival_of(dom, host)

    def wait_arrival(self, instance_uuid, host):
        """confirm_incoming's wait and answer, without its mark: asked
        while the copy runs, before the move passed its point of no
        return."""
        return self._arrival_of(self._arrived(instance_uuid, host), host)

    def _arrival_of(self, dom, host):
        arrived = {'host': host, 'state': base.RUNNING}
        # libvirt keeps the completed job's figures on the destination
        # alone: a source's agent that reaches no other daemon has none.
        lv = states.libvirt
        figures = self._stats(dom, lv.VIR_DOMAIN_JOB_STATS_COMPLETED
                              | lv.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
        if figures.get('downtime_ms') is not None:
            arrived['figures'] = figures
        return arrived

    def _arrived(self, instance_uuid, host):
        """host's domain once it runs. A paused one is arriving: libvirt
        resumes it at the end of the job, complete_migration if the source
        was suspended (force-complete). None yet, where this process
        prepared the host for the migration: libvirt makes it once the
        migration reaches here (the conductor asks while the copy starts:
        drivers/following.py). Anything else fails at once."""
        with self.conns.lifecycle.following(instance_uuid):
            return self._wait_running(instance_uuid, host)

    def _wait_running(self, instance_uuid, host):
        deadline = time.monotonic() + ARRIVAL_WAIT
        lifecycle = self.conns.lifecycle
        dom = None
        while True:
            mark = lifecycle.mark(instance_uuid)
            dom = dom or self._dom(instance_uuid, host)
            power = dom and self._power(dom)
            if power == base.RUNNING:
                self._incoming.pop(instance_uuid, None)
                return dom
            awaited = power is None and self._incoming.get(instance_uuid) == host
            if power is None:
                dom = None      # gone (a cancel), or not made yet: looked up again
            if not (power == base.PAUSED or awaited) or time.monotonic() > deadline:
                raise exception.MigrationFailed(
                    instance=instance_uuid, reason='the guest does not run '
                    'on %s%s' % (host, ' after %ss' % ARRIVAL_WAIT
                                 if power == base.PAUSED or awaited else ''))
            if lifecycle.watches(host):
                look = LOOK_AGAIN
            else:
                look = LOOK_PAUSED if dom is not None else LOOK_ABSENT
            lifecycle.wait_change(instance_uuid, mark, look)
