"""The ``rpc`` compute driver: every operation goes to the host's agent.

Each host runs ``move-orchestrator-compute`` (compute/agent.py) on topic
``move_orchestrator.compute.<host>``. An operation that names a host goes to
that host's agent (a copy or a live migration to the source's); the
operations on a live migration go to its source's agent. ``describe`` and
the audit's listings ask every host of the inventory that is not down at
once, and merge their answers; a host whose agent does not answer within
``[compute] rpc_describe_timeout`` is left out, with a warning. A host that
is down gets no calls: cleanup there (destroy, delete_disk, unbind_ports
after an evacuation) is left to its agent, which does it when it starts
again; anything else fails with HostUnavailable at once.

Nothing is cached: the operations on a migration go to the source the
caller names (a move's record names it), else every host is asked which
one runs it (rpc_migration.py).
"""

from concurrent import futures

from oslo_log import log as logging
import oslo_messaging as messaging

from move_orchestrator.compute import agent
from move_orchestrator import context as mo_context
from move_orchestrator.db import inventory as inv
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers.compute import base
from move_orchestrator.drivers.compute import rpc_migration
from move_orchestrator import exception
from move_orchestrator import rpc

LOG = logging.getLogger(__name__)

# What cleanup asks of a host that is down (an evacuation's source): its
# agent does it when it comes back (ComputeAgent.reap), as Nova's compute
# deletes evacuated instances when it starts.
DEFERRED_WHILE_DOWN = ('destroy', 'delete_disk', 'unbind_ports')
# Calls newer than the agent API's 1.0, sent with the version they need: an
# agent not upgraded yet serves every other call, and refuses these. Under a
# lower [upgrade_levels] compute each has a fallback (see the methods).
CALL_VERSIONS = {'shares_storage': '1.1', 'wait_migration': '1.1',
                 'start_migration': '1.2', 'topology': '1.3', 'hotplug': '1.3',
                 'hot_unplug': '1.3',
                 'tune_migration': '1.4', 'resize_disk': '1.5', 'export_disk': '1.5',
                 'unexport_disk': '1.5', 'import_disk': '1.5',
                 'accept_migration': '1.7', 'confirm_incoming': '1.7',
                 'wait_arrival': '1.9',
                 # wait_migration's wake_at_pass and look_at_passes (the
                 # call goes, without them)
                 'wait_migration_passes': rpc_migration.PASSES_VERSION,
                 'wait_migration_unlooked': rpc_migration.UNLOOKED_VERSION}


def _later(migration, other):
    """Whether migration started after other (agents before 1.7 say no
    start time: theirs is one record per instance)."""
    return (migration.get('started_at') or 0) > (other.get('started_at') or 0)


class RpcDriver(rpc_migration.MigrationCalls, base.ComputeDriver):

    def __init__(self, conf):
        super().__init__(conf)
        self._transport = None
        self._clients = {}
        self._inventory = None
        self._pool = futures.ThreadPoolExecutor(max_workers=8)
        # at_once's: its calls may fan out over _pool (describe), whose
        # own calls never wait on a pool.
        self._together = futures.ThreadPoolExecutor(max_workers=8)
        # Hosts whose agent refused wait_migration's wake_at_pass (older,
        # [upgrade_levels] compute unset): asked as before from then on.
        self.waits_at_passes = set()
        # ... and its look_at_passes: looked at, as before.
        self.looks_at_passes = set()

    # -- plumbing ----------------------------------------------------------------
    @property
    def transport(self):
        if self._transport is None:
            if not self.conf.transport_url:
                raise exception.Invalid('the rpc compute driver needs '
                                        '[DEFAULT] transport_url')
            self._transport = rpc.get_rpc_transport(self.conf)
        return self._transport

    def _client(self, host):
        client = self._clients.get(host)
        if client is None:
            client = rpc.get_client(
                self.transport, messaging.Target(topic=agent.topic(host),
                                                 version='1.0'),
                version_cap=self.conf.upgrade_levels.compute,
                timeout=self.conf.compute.rpc_timeout,
                call_monitor_timeout=self.conf.compute.rpc_call_monitor_timeout)
            self._clients[host] = client
        return client

    def close(self):
        """Without it the transport's connections outlive the conductor and
        keep reconnecting (to a RabbitMQ virtual host deleted since, say)."""
        self._pool.shutdown(wait=False)
        self._together.shutdown(wait=False)
        if self._transport is not None:
            self._transport.cleanup()
            self._transport = None
            self._clients = {}

    def _can_send(self, host, method):
        """Whether [upgrade_levels] compute lets method go at its version."""
        return self._client(host).can_send_version(CALL_VERSIONS[method])

    def _versioned_call(self, host, method, /, **kwargs):
        """A call newer than 1.0 that has no fallback: AgentTooOld at once
        where [upgrade_levels] compute does not let it go (the caller may
        fall back then)."""
        if not self._can_send(host, method):
            raise exception.AgentTooOld(
                operation=method, host=host, needed=CALL_VERSIONS[method],
                pinned=self.conf.upgrade_levels.compute)
        return self._call(host, method, **kwargs)

    def _context(self, kwargs):
        """The conductor's, with the claim it runs the instance's move
        under, if any: the agent refuses a change under a lost one."""
        ctxt = mo_context.get_admin_context()
        instance = kwargs.get('instance_uuid') or (kwargs.get('spec') or {}).get('uuid')
        if self.claims is not None and instance is not None:
            ctxt.claim = self.claims.claim_on(instance)
        return ctxt

    def _call(self, host, method, timeout=None, version=None, /, **kwargs):
        if host in self.inventory.down_hosts():
            if method in DEFERRED_WHILE_DOWN:
                LOG.info('%s of %s on %s, which is down: left to its agent, which '
                         'cleans up when it comes back', method,
                         kwargs.get('instance_uuid'), host)
                return False
            raise exception.HostUnavailable(host=host, reason='it is down')
        client = self._client(host)
        prepare = {'timeout': timeout} if timeout is not None else {}
        version = version or CALL_VERSIONS.get(method)
        if version:
            prepare['version'] = version
        if prepare:
            client = client.prepare(**prepare)
        try:
            return client.call(self._context(kwargs), method, **kwargs)
        except messaging.MessagingTimeout:
            raise exception.AgentTimeout(operation=method, host=host)
        except messaging.RemoteError as e:
            if e.exc_type != 'UnsupportedVersion':
                raise
            raise exception.AgentTooOld(
                'Compute driver operation %s failed: the compute agent of %s is '
                'older than this conductor (%s needs agent API %s): upgrade it, '
                'or set [upgrade_levels] compute to the version it serves'
                % (method, host, method, version), operation=method, host=host,
                needed=version)

    @property
    def inventory(self):
        if self._inventory is None:
            self._inventory = inv.Inventory(
                db_session.get_database(self.conf.database.connection))
        return self._inventory

    def _hosts(self):
        """Hosts whose agents can answer: not those marked down."""
        return [h['name'] for h in self.inventory.list_hosts() if h['state'] != 'down']

    def at_once(self, *calls):
        """Round trips together: a move's latency is mostly round trips."""
        pending = [self._together.submit(call) for call in calls[1:]]
        try:
            first = [calls[0]()] if calls else []
        finally:
            futures.wait(pending)
        return first + [p.result() for p in pending]

    def _each_host(self, method, **kwargs):
        """{host: answer} of every host's agent that answers in time."""
        timeout = self.conf.compute.rpc_describe_timeout
        calls = {h: self._pool.submit(self._call, h, method, timeout, **kwargs)
                 for h in self._hosts()}
        answers = {}
        for host, call in calls.items():
            try:
                answers[host] = call.result()
            except exception.AgentTimeout as e:
                LOG.warning('%s: host %s left out: %s', method, host, e)
        return answers

    # -- reading the world -------------------------------------------------------
    def describe(self, instance_uuid):
        """Every host's part; of the migrations several sources keep (an
        instance that went and came back), the latest. Disks counted as
        list_disks counts them."""
        world = {'domains': {}, 'disks': {}, 'migration': None}
        for host, part in self._each_host('describe_host',
                                          instance_uuid=instance_uuid).items():
            for key in ('domains', 'disks'):
                world[key].update(part[key])
            migration = part['migration']
            if migration is not None and (world['migration'] is None or _later(
                    migration, world['migration'])):
                world['migration'] = migration
        counted = base.disks_counted(
            [(instance_uuid, h) for h in world['disks']],
            [(instance_uuid, h, d['state']) for h, d in world['domains'].items()],
            self._storage_groups().get)
        world['disks'] = {h: world['disks'][h] for _uuid, h in counted}
        return world

    def describe_host(self, instance_uuid, host):
        """One call, to that host's agent (describe asks them all)."""
        return self._call(host, 'describe_host', instance_uuid=instance_uuid)

    def list_domains(self):
        return [tuple(d) for answer in self._each_host('list_domains').values()
                for d in answer]

    def list_disks(self):
        """Counted again over every host's domains: an agent sees its own
        host's alone, and counts a disk it shares with a host that defines
        the domain as its own too."""
        domains = self.list_domains()
        disks = [tuple(d) for answer in self._each_host('list_disks').values()
                 for d in answer]
        return base.disks_counted(disks, domains, self._storage_groups().get)

    def _storage_groups(self):
        """{host: storage group}, as the agents registered them."""
        return {h['name']: h['storage_group'] for h in self.inventory.list_hosts()}

    # -- operations on one host ----------------------------------------------------
    def spawn(self, spec, host, power_on=True):
        return self._call(host, 'spawn', spec=spec, host=host, power_on=power_on)

    def destroy(self, instance_uuid, host):
        return self._call(host, 'destroy', instance_uuid=instance_uuid, host=host)

    def power_on(self, instance_uuid, host):
        return self._call(host, 'power_on', instance_uuid=instance_uuid, host=host)

    def power_off(self, instance_uuid, host):
        return self._call(host, 'power_off', instance_uuid=instance_uuid, host=host)

    def create_disk(self, spec, host):
        return self._call(host, 'create_disk', spec=spec, host=host)

    def copy_disk(self, instance_uuid, source, dest, size_gb):
        """An agent before 1.5's one-call copy (see the choreography)."""
        return self._call(source, 'copy_disk', instance_uuid=instance_uuid,
                          source=source, dest=dest, size_gb=size_gb)

    def resize_disk(self, instance_uuid, host, size_gb, shrink=False):
        try:
            return self._versioned_call(host, 'resize_disk', host=host,
                                        instance_uuid=instance_uuid, size_gb=size_gb,
                                        shrink=shrink)
        except exception.AgentTooOld:
            # Pinned, or not capped but as old: before 1.5 a copy to the
            # host itself resized in place, and shrank (a grow's revert).
            return self.copy_disk(instance_uuid, host, host, size_gb)

    def export_disk(self, instance_uuid, host):
        return self._versioned_call(host, 'export_disk', host=host,
                                    instance_uuid=instance_uuid)

    def unexport_disk(self, instance_uuid, host):
        return self._versioned_call(host, 'unexport_disk', host=host,
                                    instance_uuid=instance_uuid)

    def import_disk(self, instance_uuid, host, export, size_gb):
        return self._versioned_call(host, 'import_disk', host=host,
                                    instance_uuid=instance_uuid, export=export,
                                    size_gb=size_gb)

    def delete_disk(self, instance_uuid, host):
        return self._call(host, 'delete_disk', instance_uuid=instance_uuid, host=host)

    def shares_storage(self, source, dest):
        """The source's agent says: it is the one whose copy_disk works in
        place or not."""
        if source == dest:
            return True
        if self._can_send(source, 'shares_storage'):
            try:
                return self._call(source, 'shares_storage', source=source, dest=dest)
            except exception.HostUnavailable:
                pass    # marked down (_call's own look): not asked
        # A 1.0 agent, or one that is down, cannot say: the storage groups
        # the agents registered with the inventory can.
        groups = [self.inventory.get_host(h)['storage_group'] for h in (source, dest)]
        return groups[0] is not None and groups[0] == groups[1]

    # -- live resize -----------------------------------------------------------------
    def topology(self, instance_uuid, host):
        if not self._can_send(host, 'topology'):
            # Below 1.3 nothing was hot-plugged through the agents: a live
            # migration's destination needs no topology, a live resize's
            # pre-check finds the domain cannot grow.
            return None
        try:
            return self._call(host, 'topology', instance_uuid=instance_uuid, host=host)
        except exception.AgentTooOld:
            return None     # not capped, but as old: the same answer

    def _hotplug_call(self, method, instance_uuid, host, vcpus, ram_mb):
        return self._versioned_call(host, method, instance_uuid=instance_uuid,
                                    host=host, vcpus=vcpus, ram_mb=ram_mb)

    def hotplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        return self._hotplug_call('hotplug', instance_uuid, host, vcpus, ram_mb)

    def hot_unplug(self, instance_uuid, host, vcpus=None, ram_mb=None):
        return self._hotplug_call('hot_unplug', instance_uuid, host, vcpus, ram_mb)
