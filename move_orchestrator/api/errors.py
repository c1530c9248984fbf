"""Errors in the API-SIG format, a stable code and an HTTP status for
every typed error of move_orchestrator.exception."""

import re

from oslo_serialization import jsonutils
import webob

from move_orchestrator import exception as exc

PREFIX = 'moveorchestrator.'

# class -> (code, HTTP status). The codes are part of the API: never
# renamed. A class not here takes its nearest listed base's.
ERRORS = {
    exc.MoveOrchestratorException: ('error', 500),
    exc.Invalid: ('invalid', 400),
    exc.InvalidMoveRequest: ('move.invalid_request', 400),
    exc.CannotResizeDisk: ('move.disk_cannot_shrink', 400),
    exc.CannotHotplug: ('move.cannot_hotplug', 400),
    exc.InvalidParameter: ('parameter.invalid', 400),
    exc.InstanceInvalidState: ('instance.invalid_state', 409),
    exc.NotFound: ('not_found', 404),
    exc.InstanceNotFound: ('instance.not_found', 404),
    exc.FlavorNotFound: ('flavor.not_found', 404),
    exc.HostNotFound: ('host.not_found', 404),
    exc.TaskNotFound: ('task.not_found', 404),
    exc.MarkerNotFound: ('task.marker_not_found', 400),
    exc.Conflict: ('conflict', 409),
    exc.InstanceBusy: ('instance.busy', 409),
    exc.InstanceMoved: ('instance.moved', 409),
    exc.HostUnavailable: ('host.unavailable', 409),
    exc.NoValidHost: ('host.no_valid_host', 409),
    exc.InsufficientCapacity: ('host.insufficient_capacity', 409),
    exc.InvalidTaskAction: ('task.invalid_action', 409),
    exc.InvalidStateTransition: ('task.invalid_state_transition', 409),
    exc.InvalidDrainTransition: ('drain.invalid_transition', 409),
    exc.HostBusy: ('host.busy', 409),
    exc.ClaimLost: ('task.claim_lost', 409),
    exc.Forbidden: ('policy.forbidden', 403),
    exc.DriverError: ('driver.error', 502),
    exc.DriverNotSupported: ('driver.not_supported', 501),
    exc.HostSoftwareMissing: ('driver.software_missing', 503),
    exc.MigrationFailed: ('driver.migration_failed', 502),
    exc.HotUnplugRefused: ('driver.hot_unplug_refused', 502),
    exc.AgentTooOld: ('driver.agent_too_old', 502),
    exc.AgentTimeout: ('driver.agent_timeout', 504),
    exc.MigrationPastSwitchover: ('driver.migration_past_switchover', 409),
    exc.MigrationNotRunning: ('driver.migration_not_running', 409),
    exc.GuestOnlyOnDestination: ('driver.guest_only_on_destination', 409),
    exc.MigrationStalled: ('driver.migration_stalled', 502),
    exc.InjectedFault: ('driver.injected_fault', 503),
    exc.UnknownMoveType: ('task.unknown_type', 500),
    exc.MoveAborted: ('task.aborted', 409),
    exc.WorldDiverged: ('instance.diverged', 409),
    exc.ServiceTooOld: ('service.too_old', 409),
    exc.ServiceUnreachable: ('service.unreachable', 503),
    exc.StorageUnavailable: ('storage.unavailable', 503),
}

# Errors of the HTTP layer itself, before a request reaches the service.
MALFORMED_BODY = ('api.malformed_body', 400, 'Malformed request body')
UNSUPPORTED_MEDIA = ('api.unsupported_media_type', 415,
                     'Unsupported media type')
NO_ROUTE = ('api.not_found', 404, 'Not found')
BAD_METHOD = ('api.method_not_allowed', 405, 'Method not allowed')
BAD_VERSION = ('api.version_not_acceptable', 406, 'Version not acceptable')
BAD_VERSION_HEADER = ('api.invalid_version', 400, 'Invalid version header')
INTERNAL = ('api.internal_error', 500, 'Internal error')


def code_and_status(error):
    for cls in type(error).__mro__:
        if cls in ERRORS:
            code, status = ERRORS[cls]
            return PREFIX + code, status
    return PREFIX + ERRORS[exc.MoveOrchestratorException][0], 500


def title(cls):
    """InstanceBusy -> "Instance busy"."""
    words = re.findall(r'[A-Z][a-z]*|[a-z]+', cls.__name__)
    return ' '.join([words[0]] + [w.lower() for w in words[1:]])


def response(request_id, code, status, title_, detail, headers=None):
    body = {'errors': [{'request_id': request_id, 'code': code,
                        'status': status, 'title': title_,
                        'detail': detail}]}
    resp = webob.Response(status=status, content_type='application/json',
                          charset='UTF-8')
    resp.text = jsonutils.dumps(body)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def from_exception(request_id, error):
    code, status = code_and_status(error)
    return response(request_id, code, status, title(type(error)),
                    error.message)


def http_error(request_id, kind, detail, headers=None):
    code, status, title_ = kind
    return response(request_id, PREFIX + code, status, title_, detail,
                    headers)
