"""Hosts, flavors, instances and the allocations (claims) against hosts."""

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator import exception
from move_orchestrator import states

RESOURCES = ('vcpus', 'ram_mb', 'disk_gb')
# A move's state from the start of its claim step (saved) to its end.
CLAIMING = states.PHASE_STATES['claim']


def _to_dict(row, fields):
    return {f: getattr(row, f) for f in fields}


def _host_dict(host):
    """A host's dict from its ORM object or its row."""
    return dict(_to_dict(host, HOST_FIELDS),
                state=models.Host.shown(host.state, host.disabled))


def _check_host_state(state):
    if state not in models.Host.STATES:
        raise exception.Invalid('host state must be one of %s'
                                % ', '.join(models.Host.STATES))


HOST_FIELDS = ('name', 'state', 'vcpus', 'ram_mb', 'disk_gb', 'cpu_model',
               'storage_group')
FLAVOR_FIELDS = ('name',) + RESOURCES
INSTANCE_FIELDS = ('uuid', 'name', 'host', 'flavor', 'image', 'power_state',
                   'vm_state', 'move_id', 'project_id', 'user_id')
ALLOCATION_FIELDS = ('consumer_uuid', 'host') + RESOURCES

# Instances are read by every move request and every drain tick: rows, not
# ORM objects (see db/moves.py).
_INSTANCES = models.Instance.__table__
_INSTANCE_COLUMNS = [_INSTANCES.c[f] for f in INSTANCE_FIELDS]
# Asked before every call to a compute agent (drivers/compute/rpc.py).
_HOSTS = models.Host.__table__
_DOWN_HOSTS = sa.select(_HOSTS.c.name).where(_HOSTS.c.state == 'down')
# Read by every move request and many steps: statements built once (building
# one costs more than running it).
_HOST = sa.select(_HOSTS).where(_HOSTS.c.name == sa.bindparam('name'))
_FLAVORS = models.Flavor.__table__
_FLAVOR = sa.select(_FLAVORS).where(_FLAVORS.c.name == sa.bindparam('name'))
_INSTANCE_BY = {key: sa.select(*_INSTANCE_COLUMNS).where(
    _INSTANCES.c[key] == sa.bindparam('ref')) for key in ('uuid', 'name')}
_ALLOCATIONS = models.Allocation.__table__
_USAGE = sa.select(*[sa.func.coalesce(sa.func.sum(_ALLOCATIONS.c[r]), 0)
                     for r in RESOURCES]).where(
    _ALLOCATIONS.c.host == sa.bindparam('host'))
_HOST_FOR_UPDATE = _HOST.with_for_update()
_ALLOCATION_OF = sa.select(_ALLOCATIONS).where(
    _ALLOCATIONS.c.consumer_uuid == sa.bindparam('consumer'),
    _ALLOCATIONS.c.host == sa.bindparam('host'))
_INSERT_ALLOCATION = _ALLOCATIONS.insert()
_GIVE_ALLOCATION = _ALLOCATIONS.update().where(
    _ALLOCATIONS.c.id == sa.bindparam('allocation'))
_DROP_ALLOCATIONS_OF = _ALLOCATIONS.delete().where(
    _ALLOCATIONS.c.consumer_uuid == sa.bindparam('consumer'))
# The values to set are the parameters' other keys.
_UPDATE_INSTANCE = _INSTANCES.update().where(
    _INSTANCES.c.uuid == sa.bindparam('ref'))
# Locked by a move: unless another holds it (and, [True], while the
# instance is still on the host the move was built from).
_LOCK = {on_host: _INSTANCES.update().where(
    _INSTANCES.c.uuid == sa.bindparam('ref'), _INSTANCES.c.move_id.is_(None),
    *([_INSTANCES.c.host == sa.bindparam('on_host')] if on_host else [])
).values(move_id=sa.bindparam('locked_by')) for on_host in (False, True)}
_UNLOCK = _INSTANCES.update().where(
    _INSTANCES.c.uuid == sa.bindparam('ref'),
    _INSTANCES.c.move_id == sa.bindparam('locked_by')).values(move_id=None)


class Inventory:
    """The built-in SQL inventory. Every method is one transaction."""

    def __init__(self, db):
        self.db = db

    # -- hosts --------------------------------------------------------------
    def create_host(self, name, vcpus, ram_mb, disk_gb, cpu_model='x86_64',
                    storage_group=None, state='up'):
        _check_host_state(state)
        with self.db.session() as s:
            s.add(models.Host(name=name, vcpus=vcpus, ram_mb=ram_mb,
                              disk_gb=disk_gb, cpu_model=cpu_model,
                              storage_group=storage_group,
                              state='down' if state == 'down' else 'up',
                              disabled=state == 'disabled'))
        return self.get_host(name)

    def register_host(self, name, vcpus, ram_mb, disk_gb, cpu_model='x86_64',
                      storage_group=None):
        """Create the host, or refresh what its compute agent reports.

        Capacity, CPU model and storage group are the agent's to say, so a
        restarted agent's values replace the stored ones. A host marked down
        is up again (its agent is back), or disabled again if an operator
        had disabled it before it went down. Allocations are not touched.
        Returns the host and {field: (old, new)} of what changed, None when
        it was created.
        """
        values = {'vcpus': vcpus, 'ram_mb': ram_mb, 'disk_gb': disk_gb,
                  'cpu_model': cpu_model, 'storage_group': storage_group}
        with self.db.session() as s:
            host = s.scalars(sa.select(models.Host).filter_by(
                name=name).with_for_update()).first()
            if host is None:
                s.add(models.Host(name=name, state='up', **values))
                changes = None
            else:
                shown = host.shown_state
                changes = {f: (getattr(host, f), v) for f, v in values.items()
                           if getattr(host, f) != v}
                for field, (_old, new) in changes.items():
                    setattr(host, field, new)
                host.state = 'up'
                if host.shown_state != shown:
                    changes['state'] = (shown, host.shown_state)
        return self.get_host(name), changes

    def get_host(self, name):
        with self.db.read() as s:
            host = s.execute(_HOST, {'name': name}).first()
            if host is None:
                raise exception.HostNotFound(host=name)
            return _host_dict(host)

    def list_hosts(self):
        with self.db.reader() as s:
            return [_host_dict(h) for h in s.scalars(
                sa.select(models.Host).order_by(models.Host.name))]

    def down_hosts(self):
        """The names of the hosts marked down: one small read, no ORM."""
        with self.db.read() as s:
            return [row.name for row in s.execute(_DOWN_HOSTS)]

    def set_host_state(self, name, state):
        """up or disabled: the host runs, taking moves or not; down: it is
        dead (evacuate its instances). Marking a disabled host down keeps
        the drain: its agent's return makes it disabled, not up."""
        _check_host_state(state)
        values = ({'state': 'down'} if state == 'down' else
                  {'state': 'up', 'disabled': state == 'disabled'})
        with self.db.session() as s:
            res = s.execute(sa.update(models.Host).filter_by(
                name=name).values(**values))
            if res.rowcount == 0:
                raise exception.HostNotFound(host=name)

    def host_usage(self, name):
        with self.db.read() as s:
            return self._usage(s, name)

    def usage_by_host(self, promised=False):
        """{host: usage} of every host that has allocations, in one query
        (a scheduler weighing every host asks once, not once a host).

        With ``promised``, a destination also counts the new flavor of
        every move to it still ``accepted``: such a move claims only once
        it runs, and without its promise every move picked before that
        would be sent to the same emptiest host, to fail its claim there.
        So does a move ``claiming`` whose allocation is not written yet
        (its claim step started, its claim not made): counted once, as a
        promise until the allocation replaces it.
        """
        alloc = models.Allocation.__table__
        rows = sa.select(alloc.c.host, *[alloc.c[r] for r in RESOURCES])
        if promised:
            moves, flavors = models.Move.__table__, models.Flavor.__table__
            claimed = sa.exists().where(alloc.c.consumer_uuid == moves.c.id,
                                        alloc.c.host == moves.c.dest_host)
            rows = sa.union_all(rows, sa.select(
                moves.c.dest_host, *[flavors.c[r] for r in RESOURCES])
                .join(flavors, flavors.c.name == moves.c.new_flavor)
                .where(sa.or_(moves.c.state == states.ACCEPTED,
                              sa.and_(moves.c.state == CLAIMING, ~claimed)),
                       # It claims only what it adds, on its own host.
                       moves.c.type != 'live-resize'))
        rows = rows.subquery()
        sums = [sa.func.coalesce(sa.func.sum(rows.c[r]), 0)
                for r in RESOURCES]
        with self.db.reader() as s:
            return {row[0]: dict(zip(RESOURCES, map(int, row[1:])))
                    for row in s.execute(sa.select(rows.c.host, *sums)
                                         .group_by(rows.c.host))}

    @staticmethod
    def _usage(session, host):
        row = session.execute(_USAGE, {'host': host}).one()
        return dict(zip(RESOURCES, row))

    # -- flavors ------------------------------------------------------------
    def create_flavor(self, name, vcpus, ram_mb, disk_gb):
        with self.db.session() as s:
            s.add(models.Flavor(name=name, vcpus=vcpus, ram_mb=ram_mb,
                                disk_gb=disk_gb))
        return self.get_flavor(name)

    def get_flavor(self, name):
        with self.db.read() as s:
            flavor = s.execute(_FLAVOR, {'name': name}).first()
            if flavor is None:
                raise exception.FlavorNotFound(flavor=name)
            return _to_dict(flavor, FLAVOR_FIELDS)

    def list_flavors(self):
        with self.db.reader() as s:
            return [_to_dict(f, FLAVOR_FIELDS) for f in s.scalars(
                sa.select(models.Flavor).order_by(models.Flavor.vcpus,
                                                  models.Flavor.ram_mb))]

    # -- instances ----------------------------------------------------------
    def create_instance(self, uuid, name, host, flavor, image,
                        power_state='running', project_id=None,
                        user_id=None):
        """Record an instance and allocate its flavor on its host."""
        flavor_d = self.get_flavor(flavor)
        vm_state = 'active' if power_state == 'running' else 'stopped'
        with self.db.session() as s:
            s.add(models.Instance(
                uuid=uuid, name=name, host=host, flavor=flavor, image=image,
                power_state=power_state, vm_state=vm_state,
                project_id=project_id, user_id=user_id))
            s.flush()   # the instance first, as an ORM claim would have
            self._claim(s, uuid, host, flavor_d)
        return self.get_instance(uuid)

    def get_instance(self, ref):
        """By uuid, or by name."""
        with self.db.read() as s:
            inst = s.execute(_INSTANCE_BY['uuid'], {'ref': ref}).first() or \
                s.execute(_INSTANCE_BY['name'], {'ref': ref}).first()
            if inst is None:
                raise exception.InstanceNotFound(instance=ref)
            return _to_dict(inst, INSTANCE_FIELDS)

    def list_instances(self, host=None):
        with self.db.read() as s:
            q = sa.select(*_INSTANCE_COLUMNS).order_by(_INSTANCES.c.name)
            if host is not None:
                q = q.where(_INSTANCES.c.host == host)
            return [_to_dict(i, INSTANCE_FIELDS) for i in s.execute(q)]

    def update_instance(self, uuid, **values):
        with self.db.write() as conn:
            conn.execute(_UPDATE_INSTANCE, dict(values, ref=uuid))

    def lock_instance(self, conn, uuid, move_id, host=None):
        """Mark the instance as moved by move_id, atomically; or refuse.

        With ``host``, only while the instance is still there: a move built
        from an older read of it would move it a second time.
        """
        params = {'ref': uuid, 'locked_by': move_id}
        if host is not None:
            params['on_host'] = host
        res = conn.execute(_LOCK[host is not None], params)
        if res.rowcount != 1:
            inst = conn.execute(_INSTANCE_BY['uuid'], {'ref': uuid}).first()
            if inst is None:
                raise exception.InstanceNotFound(instance=uuid)
            if inst.move_id is not None:
                raise exception.InstanceBusy(instance=uuid, task=inst.move_id)
            raise exception.InstanceMoved(instance=uuid, host=host)

    def unlock_instance(self, session, uuid, move_id):
        session.execute(_UNLOCK, {'ref': uuid, 'locked_by': move_id})

    # -- allocations --------------------------------------------------------
    def claim(self, consumer_uuid, host, resources, ratios):
        """Allocate resources on host for consumer; idempotent."""
        with self.db.write() as conn:
            self._claim(conn, consumer_uuid, host, resources, ratios)

    def _claim(self, session, consumer_uuid, host, resources, ratios=None):
        # Lock the host row so that concurrent claims see each other.
        host_row = session.execute(_HOST_FOR_UPDATE, {'name': host}).first()
        if host_row is None:
            raise exception.HostNotFound(host=host)
        existing = session.execute(_ALLOCATION_OF, {
            'consumer': consumer_uuid, 'host': host}).first()
        if existing is not None:
            return
        if ratios is not None:
            used = self._usage(session, host)
            for r in RESOURCES:
                capacity = int(getattr(host_row, r) * ratios.get(r, 1.0))
                free = capacity - used[r]
                if resources[r] > free:
                    raise exception.InsufficientCapacity(
                        host=host, resource=r, requested=resources[r],
                        free=free)
        session.execute(_INSERT_ALLOCATION, dict(
            consumer_uuid=consumer_uuid, host=host,
            **{r: resources[r] for r in RESOURCES}))

    def release(self, consumer_uuid, host=None):
        """Delete the consumer's allocations (on one host); idempotent."""
        with self.db.session() as s:
            q = sa.delete(models.Allocation).filter_by(
                consumer_uuid=consumer_uuid)
            if host is not None:
                q = q.filter_by(host=host)
            return s.execute(q).rowcount

    def transfer_allocation(self, from_consumer, to_consumer, host):
        """Give a move's claim on host to the instance (end of a move)."""
        with self.db.write() as conn:
            claim = conn.execute(_ALLOCATION_OF, {
                'consumer': from_consumer, 'host': host}).first()
            if claim is None:
                return False  # already done
            conn.execute(_DROP_ALLOCATIONS_OF, {'consumer': to_consumer})
            conn.execute(_GIVE_ALLOCATION, {'allocation': claim.id,
                                            'consumer_uuid': to_consumer})
            return True

    def merge_allocation(self, from_consumer, to_consumer, host):
        """Add a move's claim on host to the instance's allocation there (the
        end of a live resize: the growth becomes the instance's)."""
        with self.db.session() as s:
            claim = s.scalars(sa.select(models.Allocation).filter_by(
                consumer_uuid=from_consumer, host=host)).first()
            if claim is None:
                return False  # already done
            own = s.scalars(sa.select(models.Allocation).filter_by(
                consumer_uuid=to_consumer, host=host)).first()
            if own is None:
                claim.consumer_uuid = to_consumer
                return True
            for r in RESOURCES:
                setattr(own, r, getattr(own, r) + getattr(claim, r))
            s.delete(claim)
            return True

    def list_allocations(self, consumer_uuid=None, host=None):
        with self.db.reader() as s:
            q = sa.select(models.Allocation).order_by(models.Allocation.id)
            if consumer_uuid is not None:
                q = q.filter_by(consumer_uuid=consumer_uuid)
            if host is not None:
                q = q.filter_by(host=host)
            return [_to_dict(a, ALLOCATION_FIELDS) for a in s.scalars(q)]


def get_inventory(url=None):
    return Inventory(db_session.get_database(url))
