"""The compute agent: one per host, serving its hypervisor over RPC.

``move-orchestrator-compute`` runs it (cmd/compute.py). It listens on topic
``move_orchestrator.compute.<host>`` (``[DEFAULT] host``) and serves the
operations of a local compute driver (``[compute] agent_driver``, the qemu
driver by default) for that host only: every call that names a host must
name this one, so a message that reaches the wrong agent fails loudly
instead of acting on another host. On start it registers its host with the
inventory (capacity, CPU model, storage group: refreshed when the host is
known already) and marks it up, unless an operator disabled it.

The rpc compute driver (drivers/compute/rpc.py) is its client.
"""

import os

from oslo_log import log as logging
import oslo_messaging as messaging

from move_orchestrator.db import fencing
from move_orchestrator.db import inventory as inv
from move_orchestrator.db import session as db_session
from move_orchestrator.drivers import compute
from move_orchestrator.drivers import network
from move_orchestrator import exception
from move_orchestrator import rpc

LOG = logging.getLogger(__name__)

TOPIC_PREFIX = 'move_orchestrator.compute'
# API version history:
#   1.0 - the driver operations
#   1.1 - shares_storage (the revert of a copy made in place);
#         wait_migration (a poll answered when QEMU says it moved on)
#   1.2 - start_migration takes migration_id (the move's id), returned by
#         poll_migration as 'id'
#   1.3 - topology, hotplug, hot_unplug (live resize); prepare_incoming's
#         spec may carry the source's topology
#   1.4 - tune_migration (the stall policy's auto_converge, post_copy,
#         pause); force_complete_migration pauses the guest where post-copy
#         is not permitted
#   1.5 - resize_disk, export_disk, unexport_disk, import_disk: a disk moves
#         between hosts over the network, the conductor coordinating
#         (drivers/choreography.py); prepare_incoming's spec carries the
#         source's disk_bytes. copy_disk (which reached the destination's
#         files) and bind_ports, activate_binding, unbind_ports (now the
#         network driver's, called by the conductor) are still served for
#         conductors pinned below 1.5; 2.0 drops them.
#   1.6 - the request context may carry the move's claim (``claim``: move
#         id and fencing token); an operation that changes the host is
#         refused with ClaimLost when the claim is no longer the move's
#         current one (db/fencing.py). Signatures unchanged: a conductor
#         sends it to agents of any version, older ones ignore it.
#   1.7 - accept_migration and confirm_incoming: a live migration's
#         destination readies itself and answers where the source sends the
#         stream and mirrors the disk (start_migration's ``incoming``), then
#         confirms the arrival itself; no host reaches the other's files.
#         Both change the host: the claim is checked.
#   1.8 - start_migration answers the migration as poll_migration does
#         (None before: the conductor polls then). Signatures unchanged.
#   1.9 - wait_arrival: the destination waits while the guest is on its way
#         and answers once it runs there, confirming nothing (asked while
#         the copy runs, where the driver's migration says arrives_first).
#   1.10 - wait_migration takes wake_at_pass: False lets a new pass over
#         the memory pass without ending the wait, whose answer then lists
#         the passes it saw (``passes``).
#   1.11 - wait_migration takes look_at_passes: False (with wake_at_pass
#         false) lets the passes go by without a look: the stall policy
#         counts none yet, at a copy's start.
VERSION = '1.11'
# The longest a wait_migration call may hold one of the agent's threads.
MAX_WAIT = 30.0

# Driver operations served, and the argument that names the agent's host.
HOST_OPERATIONS = {
    'spawn': 'host', 'destroy': 'host', 'power_on': 'host', 'power_off': 'host',
    'create_disk': 'host', 'copy_disk': 'source', 'delete_disk': 'host',
    'shares_storage': 'source', 'resize_disk': 'host', 'export_disk': 'host',
    'unexport_disk': 'host', 'import_disk': 'host',
    'prepare_incoming': 'host', 'start_migration': 'source',
    'accept_migration': 'host', 'confirm_incoming': 'host', 'wait_arrival': 'host',
    'topology': 'host', 'hotplug': 'host', 'hot_unplug': 'host',
}
# Port bindings, for conductors pinned below 1.5: the network driver's.
NETWORK_OPERATIONS = ('bind_ports', 'activate_binding', 'unbind_ports')
# Operations on an instance's live migration: served by its source's agent.
MIGRATION_OPERATIONS = ('poll_migration', 'cancel_migration',
                        'force_complete_migration', 'complete_migration')
# What changes nothing on the host: served whatever claim comes with it.
READS = ('shares_storage', 'topology', 'poll_migration', 'wait_arrival')


def topic(host):
    return '%s.%s' % (TOPIC_PREFIX, host)


def _machine_ram_mb():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096


class ComputeAgentManager:
    """The RPC endpoint. Every method takes the request context first."""

    target = messaging.Target(version=VERSION)

    def __init__(self, host, driver, network=None, db=None):
        self.host = host
        self.driver = driver
        self.network = network
        self.db = db     # where claims are checked; None: they are not

    def _check_claim(self, ctxt, operation):
        """A conductor that lost the move's claim changes nothing here: its
        successor may be acting on the same instance."""
        claim = getattr(ctxt, 'claim', None)
        if claim is None or self.db is None or operation in READS:
            return
        with self.db.read() as conn:     # one Core select, no ORM session
            try:
                fencing.check_current(conn, claim)
            except exception.ClaimLost:
                LOG.warning('%s refused: the claim of move %s it was sent '
                            'under (generation %s) is no longer current',
                            operation, claim.get('move'),
                            claim.get('generation'))
                raise

    def _check_host(self, operation, host):
        if host != self.host:
            raise exception.DriverError(
                operation=operation, reason='the agent of %s was asked to act '
                'on %s' % (self.host, host))

    def _call(self, ctxt, operation, kwargs):
        self._check_host(operation, kwargs[HOST_OPERATIONS[operation]])
        self._check_claim(ctxt, operation)
        return getattr(self.driver, operation)(**kwargs)

    def _migration_call(self, ctxt, operation, instance_uuid):
        # A poll is frequent and reads only; the others check the source.
        migration = (self.driver.migration_of(instance_uuid)
                     if operation != 'poll_migration' else None)
        if migration is not None:
            self._check_host(operation, migration['source'])
        self._check_claim(ctxt, operation)
        return getattr(self.driver, operation)(instance_uuid)

    def tune_migration(self, ctxt, instance_uuid, action, params=None):
        """The stall policy's action on the migration leaving this host."""
        migration = self.driver.migration_of(instance_uuid)
        if migration is not None:
            self._check_host('tune_migration', migration['source'])
        self._check_claim(ctxt, 'tune_migration')
        return self.driver.tune_migration(instance_uuid, action, params)

    def wait_migration(self, ctxt, instance_uuid, timeout, wake_at_pass=True,
                       look_at_passes=True):
        """poll_migration, once the migration moved on or after timeout."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not 0 <= timeout <= MAX_WAIT:
            raise exception.Invalid('wait_migration: timeout must be a number of '
                                    'seconds from 0 to %s, not %r' % (MAX_WAIT, timeout))
        for name, value in (('wake_at_pass', wake_at_pass),
                            ('look_at_passes', look_at_passes)):
            if not isinstance(value, bool):
                raise exception.Invalid('wait_migration: %s must be true or '
                                        'false, not %r' % (name, value))
        return self.driver.wait_migration(instance_uuid, timeout,
                                          wake_at_pass=wake_at_pass,
                                          look_at_passes=look_at_passes)

    # -- reading this host's part of the world --------------------------------
    def describe_host(self, ctxt, instance_uuid):
        """describe() of this host only; the migration if it leaves here."""
        return self.driver.describe_host(instance_uuid, self.host)

    def list_domains(self, ctxt):
        return [list(d) for d in self.driver.list_domains() if d[1] == self.host]

    def list_disks(self, ctxt):
        return [list(d) for d in self.driver.list_disks() if d[1] == self.host]

    def ping(self, ctxt):
        return {'host': self.host, 'pid': os.getpid()}


def _make_operation(operation):
    def method(self, ctxt, **kwargs):
        return self._call(ctxt, operation, kwargs)
    method.__name__ = operation
    return method


def _make_network_operation(operation):
    def method(self, ctxt, instance_uuid, host):
        self._check_host(operation, host)
        self._check_claim(ctxt, operation)
        return getattr(self.network, operation)(instance_uuid, host)
    method.__name__ = operation
    return method


def _make_migration_operation(operation):
    def method(self, ctxt, instance_uuid):
        return self._migration_call(ctxt, operation, instance_uuid)
    method.__name__ = operation
    return method


for _op in HOST_OPERATIONS:
    setattr(ComputeAgentManager, _op, _make_operation(_op))
for _op in NETWORK_OPERATIONS:
    setattr(ComputeAgentManager, _op, _make_network_operation(_op))
for _op in MIGRATION_OPERATIONS:
    setattr(ComputeAgentManager, _op, _make_migration_operation(_op))


class ComputeAgent:
    """The service: the local driver, the RPC server, the registration."""

    def __init__(self, conf):
        if conf.compute.agent_driver == 'rpc':
            raise exception.Invalid('[compute] agent_driver cannot be "rpc"')
        self.conf = conf
        self.host = conf.host
        self.driver = compute.load_driver(conf.compute.agent_driver, conf=conf)
        self.network = network.load_driver(conf=conf)
        self.manager = ComputeAgentManager(
            self.host, self.driver, self.network,
            db_session.get_database(conf.database.connection))
        self.server = None

    def register(self):
        """Put this host in the inventory, or bring its entry up to date:
        the scheduler must not place moves by a capacity or a CPU model the
        host had before its agent restarted."""
        c = self.conf.compute
        group = self.driver.storage_group(self.host)
        if c.agent_storage_group and group and c.agent_storage_group != group:
            raise exception.Invalid(
                '[compute] agent_storage_group %s and the driver\'s storage group %s '
                'of %s differ: the inventory would say other hosts share its disks '
                'than the driver does' % (c.agent_storage_group, group, self.host))
        inventory = inv.Inventory(self.manager.db)
        host, changes = inventory.register_host(
            self.host, vcpus=c.agent_vcpus or os.cpu_count() or 1,
            ram_mb=c.agent_ram_mb or _machine_ram_mb(), disk_gb=c.agent_disk_gb,
            cpu_model=c.agent_cpu_model, storage_group=c.agent_storage_group or group)
        if changes is None:
            LOG.info('Host %s registered with the inventory', self.host)
        elif changes:
            LOG.info('Host %s updated in the inventory: %s', self.host, ', '.join(
                '%s %s -> %s' % (f, old, new) for f, (old, new) in sorted(changes.items())))
        else:
            LOG.info('Host %s is in the inventory, unchanged', self.host)
        if host['state'] != 'up':
            LOG.info('Host %s stays %s', self.host, host['state'])
        self.reap(inventory)
        return inventory.get_host(self.host)

    def reap(self, inventory):
        """Delete what this host still has of instances that live elsewhere
        now (evacuated while the host was down) or no longer exist, unless a
        move is working on them. Returns their uuids."""
        instances = {i['uuid']: i for i in inventory.list_instances()}
        here = {u for u, h, _s in self.driver.list_domains() if h == self.host}
        here |= {u for u, h in self.driver.list_disks() if h == self.host}
        reaped = []
        for uuid in sorted(here):
            instance = instances.get(uuid)
            if instance is not None and (instance['host'] == self.host
                                         or instance['move_id']):
                continue
            # A disk of the host's storage group is the one the instance
            # uses where it lives now (this agent may not see the domain
            # there: it reaches its own daemon alone).
            shared = instance is not None and self.driver.shares_storage(
                self.host, instance['host'])
            LOG.warning('Instance %s lives on %s now: deleting what %s has left '
                        'of it%s', uuid, instance and instance['host'], self.host,
                        ' (its disk is shared with that host: kept)' if shared else '')
            self.driver.destroy(uuid, self.host)
            if not shared:
                self.driver.delete_disk(uuid, self.host)
            self.network.unbind_ports(uuid, self.host)
            reaped.append(uuid)
        return reaped

    def start(self):
        transport = rpc.get_rpc_transport(self.conf)
        target = messaging.Target(topic=topic(self.host), server=self.host)
        self.server = messaging.get_rpc_server(
            transport, target, [self.manager], executor='threading',
            serializer=rpc.RequestContextSerializer(),
            access_policy=messaging.DefaultRPCAccessPolicy)
        self.server.start()
        LOG.info('Compute agent of %s serving topic %s on %s', self.host,
                 topic(self.host), rpc.masked_url(self.conf.transport_url))

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server.wait()
            self.server = None
