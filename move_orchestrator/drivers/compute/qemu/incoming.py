"""The destination's side of a live migration: accept it, confirm it.

accept_migration readies the destination by itself: its disk target, QEMU
waiting (``-incoming defer``) and listening for the stream with
``migrate-incoming`` on ``[qemu] host_address``, and where the disk is not
shared, that disk exported writable over NBD there. It answers what the
source needs (the two addresses), so the source never reaches the
destination's files, and starts the arrival watcher (arrival.py), which
sees the guest arrive without a conductor. confirm_incoming checks that it
did and runs, and ends what only the migration needed.
"""

import os
import time

from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute.qemu import arrival
from move_orchestrator.drivers.compute.qemu import destination
from move_orchestrator.drivers.compute.qemu import mirror
from move_orchestrator.drivers.compute.qemu import nbd
from move_orchestrator.drivers.compute.qemu import process
from move_orchestrator.drivers.compute.qemu import qmp
from move_orchestrator.drivers.compute.qemu import watchers
from move_orchestrator import exception

ARRIVAL_WAIT = 1.0      # seconds for the watcher's figures after the arrival


def _host(address):
    return '[%s]' % address if ':' in address else address


def _fail(instance_uuid, reason, dom=None):
    """MigrationFailed; with what the destination's QEMU said last, if it
    said anything (a stream it could not load, say)."""
    said = dom.last_said() if dom is not None else None
    if said:
        reason = '%s (QEMU: %s)' % (reason, said)
    raise exception.MigrationFailed(instance=instance_uuid, reason=reason,
                                    operation='confirm_incoming')


class IncomingMixin:
    """accept_migration and confirm_incoming of QemuDriver."""

    def accept_migration(self, spec, host, source):
        dom = self._domain(spec['uuid'], host)
        state_path = dom.path(arrival.STATE)
        state = process.read_json(state_path, {})
        # The NBD port is written down before QEMU listens on it: a re-run
        # after a crash in between finds the export there, on that port.
        state.setdefault('nbd_port', None)
        watcher = None
        # A QEMU this call starts listens for nothing yet: not asked (a
        # round trip of its main loop, in the migration's window).
        fresh = not state.get('answer') and dom.pid() is None
        if fresh:
            # The arrival watcher's interpreter starts while QEMU does: it
            # waits for QEMU's monitor while the state file is there.
            os.makedirs(dom.dir, exist_ok=True)
            process.write_json(state_path, state)
            watcher = watchers.start_arrival(dom, self.opts.operation_timeout)
        try:
            self.prepare_incoming(spec, host)
        except Exception:
            if watcher is not None:
                process.remove(state_path)      # its watcher ends with it
                watchers.listening(watcher)
            raise
        if state.get('answer'):
            return state['answer']          # a re-run
        address = self.opts.host_address
        answer = {'host': host, 'uri': None, 'nbd': None}
        with dom.qmp() as q:
            q.execute('migrate-set-capabilities', capabilities=[
                {'capability': 'postcopy-ram', 'state': self.opts.permit_post_copy},
                {'capability': 'events', 'state': True}])
            if not self.shares_storage(source, host):
                answer['nbd'] = self._export_target(q, dom, state, address)
            info = {} if fresh else q.execute('query-migrate')
            if not info.get('socket-address'):
                if not fresh:   # the watcher runs while it is there
                    process.write_json(state_path, state)
                q.execute('migrate-incoming', uri='tcp:%s:0' % _host(address))
                info = q.execute('query-migrate')
        port = info['socket-address'][0]['port']
        answer['uri'] = 'tcp:%s:%s' % (_host(address), port)
        if watcher is not None:
            pid = watchers.listening(watcher)
        else:   # a re-run that found QEMU started: its watcher, if it lives
            pid = watchers.arrival_watcher(dom) or watchers.listening(
                watchers.start_arrival(dom, self.opts.operation_timeout))
        # One write of the answer and its watcher: a re-run after a crash
        # before it asks QEMU again, which listens on the same port.
        state.update(answer=answer, source=source, watcher=pid)
        process.write_json(state_path, state)
        return answer

    def _export_target(self, q, dom, state, address):
        """The disk's writable NBD export on a free port of address."""
        error = None
        for _attempt in range(nbd.ATTEMPTS):
            port = state['nbd_port'] or nbd.free_port(address)
            state['nbd_port'] = port
            process.write_json(dom.path(arrival.STATE), state)
            try:
                mirror.export_disk(q, dom, {'type': 'inet', 'data': {
                    'host': address, 'port': str(port)}})
                return nbd.nbd_uri(address, port) + '/disk0'
            except qmp.QMPError as e:
                error, state['nbd_port'] = e, None      # taken meanwhile: another
        raise error

    def confirm_incoming(self, instance_uuid, host):
        dom = self._domain(instance_uuid, host)
        definition = dom.read_definition()
        if definition is None or dom.pid() is None:
            _fail(instance_uuid, 'no domain runs on %s' % host, dom)
        if not definition.get('incoming'):
            # Confirmed before: a re-run.
            if dom.status() != 'running':
                _fail(instance_uuid, 'the domain on %s is %s' % (host, dom.status()))
            return {'host': host, 'state': base.RUNNING}
        deadline = time.monotonic() + self.opts.operation_timeout
        with dom.qmp() as q:
            while True:
                migrating = q.execute('query-migrate').get('status')
                if migrating == 'completed':
                    if q.execute('query-status')['status'] == 'running':
                        break
                    if destination.run_arrived(q, migrating):
                        continue    # paused or held, its watcher gone: run here
                if migrating in ('failed', 'cancelled'):
                    _fail(instance_uuid, 'the incoming migration on %s %s'
                          % (host, migrating), dom)
                left = deadline - time.monotonic()
                if left <= 0:
                    _fail(instance_uuid, 'the guest did not arrive on %s in %ss'
                          % (host, self.opts.operation_timeout))
                try:
                    q.wait_event(('MIGRATION', 'RESUME'), timeout=min(left, 0.2))
                except qmp.QMPError as e:
                    if e.kwargs.get('operation') != 'wait_event':
                        raise
            destination.end_export(q)       # a guest that ran by itself
        arrived = self._arrival(dom)
        dom.write_definition({'spec': definition['spec']})
        for name in (arrival.STATE, arrival.ARRIVAL):
            process.remove(dom.path(name))
        return {'host': host, 'state': base.RUNNING,
                'resumed_at': arrived.get('resumed_at')}

    @staticmethod
    def _arrival(dom):
        """What the arrival watcher wrote ({} if it is gone without)."""
        return arrival.recorded(dom.dir, time.monotonic() + ARRIVAL_WAIT,
                                0.005) or {}
