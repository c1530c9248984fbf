"""What wraps every operation of the fake driver: injected delays and
faults (``[fake_driver]``), the record of overlapping operations, and the
transfers in flight that the scale benchmarks count."""

import functools
import inspect
import time

import sqlalchemy as sa

from move_orchestrator.db import models
from move_orchestrator.db import session as db_session
from move_orchestrator import faults


# Faults named after what an operation was before drivers acted on one host
# each: a disk copy (import on the destination, or resize in place) is still
# "copy_disk@DEST" in [fake_driver] faults.
ALIASES = {'import_disk': 'copy_disk', 'resize_disk': 'copy_disk'}


def operation(func):
    """Apply delay and faults (``op`` or ``op@host``) before the operation.

    The host of a fault is the operation's ``host`` argument, or ``dest``
    for the ones that act on two hosts.
    """
    signature = inspect.signature(func)
    # The fake keeps its hosts in the database: on MariaDB two operations'
    # transactions can deadlock (a storm's concurrent inserts and deletes
    # of transfers), which rolls one of them back whole. It runs again: a
    # hypervisor would not have failed there.
    body = db_session.retry_on_deadlock(func)

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        host = bound.get('host') or bound.get('dest')
        name = func.__name__
        started = time.time()
        points = ['%s@%s' % (name, host), name]
        alias = ALIASES.get(name)
        if alias:
            points += ['%s@%s' % (alias, host), alias]
        faults.maybe_trigger(self._faults, *points)
        if self._delay:
            time.sleep(self._delay)
        result = body(self, *args, **kwargs)
        if self._record:
            spec = bound.get('spec') or {}
            self._record_operation(bound.get('instance_uuid')
                                   or spec.get('uuid'), name, started)
        return result
    return wrapper


def transferring(func):
    """A disk copy between two hosts (an import from a peer's export) is a
    transfer in flight while it runs (its delay included)."""
    @functools.wraps(func)
    def wrapper(self, instance_uuid, host, export, *args, **kwargs):
        source = export['host']
        if source == host:
            return func(self, instance_uuid, host, export, *args, **kwargs)
        with self._db.session() as s:
            row = models.FakeTransfer(instance_uuid=instance_uuid,
                                      source_host=source, dest_host=host,
                                      live=False)
            s.add(row)
        self._record_peaks(source, host, False)
        try:
            return func(self, instance_uuid, host, export, *args, **kwargs)
        finally:
            with self._db.session() as s:
                s.execute(sa.delete(models.FakeTransfer).filter_by(
                    id=row.id))
    return wrapper
