"""Typed errors.

Every error a caller can provoke has its own class so that an RPC client (via
oslo.messaging's allowed_remote_exmods) catches the same class the server
raised. ``kwargs`` are kept so the message can be rebuilt on the other side.

A value in a message may be a caller's: it is quoted bounded and escaped
(redact.quote), so a 100,000-character name or an ANSI escape is not echoed
back whole or raw; ``kwargs`` keep the values as given.
"""

from move_orchestrator import redact

# Longer than a name: a reason is ours, but may carry a caller's value.
REASON_LIMIT = 500


class MoveOrchestratorException(Exception):
    msg_fmt = 'An unknown error occurred.'
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % {
                    k: _quoted(k, v) for k, v in kwargs.items()}
            except (KeyError, TypeError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    def to_dict(self):
        return {'type': type(self).__name__, 'message': self.message,
                'code': self.code}


def _quoted(key, value):
    if not isinstance(value, (str, bytes)):
        return value
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'backslashreplace')
    return redact.escape(value, REASON_LIMIT if key == 'reason'
                         else redact.QUOTE_LIMIT)


class Invalid(MoveOrchestratorException):
    msg_fmt = 'Invalid request.'
    code = 400


class InvalidMoveRequest(Invalid):
    msg_fmt = 'Invalid move request: %(reason)s'


class CannotResizeDisk(InvalidMoveRequest):
    msg_fmt = ('Cannot resize %(instance)s to flavor %(flavor)s: its disk '
               '(%(new)s GB) is smaller than the current one (%(old)s GB), '
               'and a disk cannot shrink.')


class CannotHotplug(InvalidMoveRequest):
    """A live resize was asked for (``live=true``) and cannot be done."""
    msg_fmt = ('Cannot resize %(instance)s to flavor %(flavor)s live: '
               '%(reason)s')


class InstanceInvalidState(Invalid):
    msg_fmt = ('Instance %(instance)s is %(state)s and cannot be moved that '
               'way: %(reason)s')
    code = 409


class NotFound(MoveOrchestratorException):
    msg_fmt = 'Not found.'
    code = 404


class InstanceNotFound(NotFound):
    msg_fmt = 'Instance %(instance)s could not be found.'


class FlavorNotFound(NotFound):
    msg_fmt = 'Flavor %(flavor)s could not be found.'


class HostNotFound(NotFound):
    msg_fmt = 'Host %(host)s could not be found.'


class TaskNotFound(NotFound):
    msg_fmt = 'Task %(task)s could not be found.'


class MarkerNotFound(TaskNotFound):
    """A page's marker names no task: bad input of a list, not a missing
    resource (HTTP 400), still a TaskNotFound for RPC callers."""
    msg_fmt = 'Marker %(task)s is not a task id.'
    code = 400


class Conflict(MoveOrchestratorException):
    msg_fmt = 'Conflict.'
    code = 409


class InstanceBusy(Conflict):
    msg_fmt = 'Instance %(instance)s is already being moved by task %(task)s.'


class InstanceMoved(InstanceBusy):
    """The instance left the host a move was made from (another move took
    it) between the read the move was built from and its lock."""
    msg_fmt = 'Instance %(instance)s is no longer on host %(host)s.'


class HostUnavailable(Conflict):
    msg_fmt = 'Host %(host)s cannot take the instance: %(reason)s'


class NoValidHost(Conflict):
    msg_fmt = 'No valid host was found: %(reason)s'


class InsufficientCapacity(Conflict):
    msg_fmt = ('Host %(host)s has not enough %(resource)s: %(requested)s '
               'requested, %(free)s free.')


class InvalidTaskAction(Conflict):
    msg_fmt = 'Task %(task)s cannot be %(action)s: %(reason)s'


class InvalidStateTransition(MoveOrchestratorException):
    msg_fmt = ('Move %(move)s (%(move_type)s) cannot %(event)s from '
               '%(source)s (to %(target)s).')


class Forbidden(MoveOrchestratorException):
    msg_fmt = 'Policy does not allow %(action)s to be performed.'
    code = 403


class DriverError(MoveOrchestratorException):
    msg_fmt = 'Compute driver operation %(operation)s failed: %(reason)s'


class DriverNotSupported(DriverError):
    """The driver cannot do this (yet): the move is refused, or reverted
    before it changed anything, with this one line."""
    msg_fmt = 'The %(driver)s driver does not support %(operation)s'


class HostSoftwareMissing(DriverError):
    """What a driver runs on this machine is not installed; the message
    says what to install."""
    msg_fmt = '%(missing)s not found: %(install)s'


class MigrationFailed(DriverError):
    msg_fmt = 'Live migration of %(instance)s failed: %(reason)s'


class HotUnplugRefused(DriverError):
    """Hot-plugged vCPUs or memory that the guest does not give back: the
    instance keeps them, and the move that added them cannot be undone."""
    msg_fmt = ('Cannot unplug %(what)s from %(instance)s on %(host)s: '
               '%(reason)s')


class AgentTimeout(DriverError):
    msg_fmt = ('Compute driver operation %(operation)s failed: the compute '
               'agent of %(host)s did not answer in time')


class AgentTooOld(DriverError):
    msg_fmt = ('%(operation)s on %(host)s needs compute agent API %(needed)s, '
               'above [upgrade_levels] compute (%(pinned)s): raise it once '
               'every agent serves %(needed)s.')


class MigrationPastSwitchover(DriverError):
    """A cancel came after the host side switched the guest over: the
    move can only complete (it records the late cancel)."""
    msg_fmt = ('Live migration of %(instance)s is past its switch-over: it '
               'cannot be cancelled, it completes')


class MigrationNotRunning(DriverError):
    """A force-complete found no memory copy to force: it ended meanwhile
    (converged on its own, cancelled, failed) or never started. Nothing
    was done; ``status`` says which."""
    msg_fmt = ('No live migration of %(instance)s is running (%(status)s): '
               'nothing to force')


class GuestOnlyOnDestination(DriverError):
    """A live migration's revert found the guest running on the destination
    and on its source no more (switched over, and nobody recorded it):
    destroying the destination would lose it, so the revert stops, and a
    resume rolls the move forward."""
    msg_fmt = ('Instance %(instance)s runs only on %(host)s, the live '
               'migration\'s destination: kept there, not reverted (it was '
               'switched over, which cannot be undone); resume the task to '
               'complete the move')


class MigrationStalled(MigrationFailed):
    msg_fmt = ('Live migration of %(instance)s stalled: %(reason)s')


class InjectedFault(MoveOrchestratorException):
    msg_fmt = 'Injected fault at %(point)s'


class UnknownMoveType(MoveOrchestratorException):
    msg_fmt = ('Unknown move type %(move_type)s: the record is corrupt or '
               'was written by another version.')


class MoveAborted(MoveOrchestratorException):
    msg_fmt = 'Move %(move)s was aborted by %(who)s.'


class WorldDiverged(MoveOrchestratorException):
    msg_fmt = ('The state of %(instance)s is not what the move expected: '
               '%(reason)s')


class InvalidParameter(Invalid):
    msg_fmt = 'Invalid parameter %(name)s: %(reason)s'


class ServiceUnreachable(MoveOrchestratorException):
    msg_fmt = ('No answer within %(timeout)s s (rpc_response_timeout): '
               '%(reason)s')
    code = 503


class ServiceTooOld(MoveOrchestratorException):
    msg_fmt = ('%(method)s needs RPC API version %(needed)s but the '
               'conductor service is pinned to %(pinned)s ([upgrade_levels] '
               'conductor).')
    code = 409


class InvalidDrainTransition(InvalidStateTransition):
    msg_fmt = 'Drain %(drain)s cannot %(event)s: it is %(state)s.'


class HostBusy(Conflict):
    msg_fmt = 'Host %(host)s is already being drained by task %(task)s.'


class ClaimLost(MoveOrchestratorException):
    """This conductor's claim on a move was taken over (or lapsed): it must
    stop running the move and write nothing more for it."""
    msg_fmt = ('Move %(move)s: this conductor\'s claim (generation '
               '%(generation)s) is no longer current; another conductor '
               'runs the move.')
    code = 409


class StorageUnavailable(MoveOrchestratorException):
    """The database cannot be reached or cannot take a write (an outage):
    moves wait until it is back; a read is refused at once with this."""
    msg_fmt = ('Storage unavailable (%(cause)s): %(detail)s. Moves wait '
               'until it is back; try again later.')
    code = 503
