"""A step's error and result reach the task's record without a password:
drivers quote URLs (a libvirt daemon's, a disk export's) in both."""

from taskflow.types import failure

from move_orchestrator import exception
from move_orchestrator.records import history

SECRET = 'S3cret-pw'
URI = 'qemu+tcp://nova:%s@host2/system' % SECRET


def _failure():
    try:
        raise exception.DriverError(operation='connect',
                                    reason='host2 (%s): refused' % URI)
    except exception.DriverError:
        return failure.Failure()


def test_a_steps_error_is_recorded_without_the_password():
    error = history.failure_to_dict(_failure())
    assert error['type'] == 'DriverError'
    assert SECRET not in error['message'] and SECRET not in error['traceback']
    assert 'qemu+tcp://nova:***@host2/system' in error['message']


def test_a_steps_result_is_recorded_without_the_password():
    result = {'host': 'host2', 'uri': URI, 'nbd': None, 'downtime_ms': 21,
              'exports': [{'uri': URI}]}
    shown = history.masked(result)
    assert SECRET not in repr(shown)
    assert shown == {'host': 'host2', 'uri': 'qemu+tcp://nova:***@host2/system',
                     'nbd': None, 'downtime_ms': 21,
                     'exports': [{'uri': 'qemu+tcp://nova:***@host2/system'}]}
