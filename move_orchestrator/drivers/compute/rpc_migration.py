"""The rpc driver's operations on a live migration (rpc.py: the plumbing
and the rest).

The destination's agent readies itself and confirms the arrival; every
operation on the migration itself goes to its source's agent: the one the
caller names (a move's record names it), else the one the hosts say runs
it.
"""

from oslo_log import log as logging

from move_orchestrator.compute import agent
from move_orchestrator import exception

LOG = logging.getLogger(__name__)

# wait_migration with wake_at_pass, and with look_at_passes (the agent
# API's versions that take them).
PASSES_VERSION = '1.10'
UNLOOKED_VERSION = '1.11'


class MigrationCalls:
    """RpcDriver's live migration operations; they call through its
    ``_call``, ``_versioned_call`` and ``_can_send``."""

    def prepare_incoming(self, spec, host):
        return self._call(host, 'prepare_incoming', spec=spec, host=host)

    def accept_migration(self, spec, host, source):
        """AgentTooOld below 1.7 (pinned, or the agent's): the
        choreography prepares the destination as before then."""
        return self._versioned_call(host, 'accept_migration', host=host, spec=spec,
                                    source=source)

    def confirm_incoming(self, instance_uuid, host):
        return self._versioned_call(host, 'confirm_incoming', host=host,
                                    instance_uuid=instance_uuid)

    def wait_arrival(self, instance_uuid, host):
        """AgentTooOld below 1.9: the source's word alone tells the end."""
        return self._versioned_call(host, 'wait_arrival', host=host,
                                    instance_uuid=instance_uuid)

    def start_migration(self, instance_uuid, source, dest, migration_id=None,
                        incoming=None):
        if incoming is not None:
            # Only a destination of 1.7 answers one; a source older than
            # that cannot take it (AgentTooOld: the move reverts).
            return self._call(source, 'start_migration', None, '1.7',
                              instance_uuid=instance_uuid, source=source, dest=dest,
                              migration_id=migration_id, incoming=incoming)
        if not self._can_send(source, 'start_migration'):
            # An agent before 1.2 keeps no id: TransferMemory takes no
            # recorded migration for its own and asks again, which such an
            # agent answers idempotently while the same route's migration
            # runs.
            return self._call(source, 'start_migration', None, '1.0',
                              instance_uuid=instance_uuid, source=source, dest=dest)
        return self._call(source, 'start_migration', instance_uuid=instance_uuid,
                          source=source, dest=dest, migration_id=migration_id)

    def _source_of(self, instance_uuid, source=None):
        """The host whose agent serves the migration: the caller's word
        (a move's record names its source), else the hosts' own. Nothing
        is remembered: an earlier move of the instance, or another
        conductor's, would name the wrong host."""
        if source is not None:
            return source
        migration = self.migration_of(instance_uuid)
        return migration and migration['source']

    def _known_source(self, method, instance_uuid, source):
        """_source_of, for an operation that needs a migration to act on."""
        source = self._source_of(instance_uuid, source)
        if source is None:
            raise exception.DriverError(operation=method, reason='no migration '
                                        'of %s in progress' % instance_uuid)
        return source

    def _migration_call(self, method, instance_uuid, source=None):
        source = self._source_of(instance_uuid, source)
        if source is None:
            return None
        return self._call(source, method, instance_uuid=instance_uuid)

    def poll_migration(self, instance_uuid, source=None):
        return self._migration_call('poll_migration', instance_uuid, source)

    def wait_migration(self, instance_uuid, timeout, source=None,
                       wake_at_pass=True, look_at_passes=True):
        """The source's agent waits (for QEMU's events, with the qemu driver);
        one before 1.10 ends the wait at each pass, as asked by default, one
        before 1.11 looks at each pass it goes through."""
        source = self._source_of(instance_uuid, source)
        if source is None:
            return None
        if not self._can_send(source, 'wait_migration'):
            return super().wait_migration(instance_uuid, timeout,   # sleep, poll
                                          source=source)
        timeout = min(timeout, agent.MAX_WAIT)
        rpc_timeout = timeout + self.conf.compute.rpc_timeout
        # Newest first: (CALL_VERSIONS key, version, the hosts whose agent
        # refused it, what such an agent's waits do, its arguments).
        newer = []
        if not wake_at_pass and not look_at_passes:
            newer.append(('wait_migration_unlooked', UNLOOKED_VERSION,
                          self.looks_at_passes, 'look at each pass',
                          dict(wake_at_pass=False, look_at_passes=False)))
        if not wake_at_pass:
            newer.append(('wait_migration_passes', PASSES_VERSION,
                          self.waits_at_passes, 'end at each pass',
                          dict(wake_at_pass=False)))
        for key, version, refused, older, arguments in newer:
            if source in refused or not self._can_send(source, key):
                continue
            try:
                return self._call(source, 'wait_migration', rpc_timeout, version,
                                  instance_uuid=instance_uuid, timeout=timeout,
                                  **arguments)
            except exception.AgentTooOld as e:
                LOG.info('%s; its waits %s over the memory', e, older)
                refused.add(source)
        return self._call(source, 'wait_migration', rpc_timeout,
                          instance_uuid=instance_uuid, timeout=timeout)

    def cancel_migration(self, instance_uuid, source=None):
        return bool(self._migration_call('cancel_migration', instance_uuid, source))

    def force_complete_migration(self, instance_uuid, source=None):
        source = self._known_source('force_complete_migration', instance_uuid, source)
        return self._call(source, 'force_complete_migration',
                          instance_uuid=instance_uuid)

    def complete_migration(self, instance_uuid, source=None):
        source = self._known_source('complete_migration', instance_uuid, source)
        return self._call(source, 'complete_migration', instance_uuid=instance_uuid)

    def tune_migration(self, instance_uuid, action, params=None, source=None):
        source = self._known_source('tune_migration', instance_uuid, source)
        return self._versioned_call(source, 'tune_migration',
                                    instance_uuid=instance_uuid, action=action,
                                    params=params)
