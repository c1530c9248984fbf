"""libvirt's domain and job states in the driver's words."""

import time

from move_orchestrator.drivers.compute import base

try:
    import libvirt
except ImportError:     # the driver says so when it is made (hosts.py)
    libvirt = None


def power_state(state):
    """virDomainState -> a base power state (a domain paused for any reason
    is PAUSED: the switch-over's revert resumes it; a blocked one runs)."""
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
        return base.RUNNING
    if state in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED):
        return base.PAUSED
    return base.SHUTOFF


def error_code(error):
    return error.get_error_code() if isinstance(error, libvirt.libvirtError) else None


def is_no_domain(error):
    return error_code(error) == libvirt.VIR_ERR_NO_DOMAIN


def connection_lost(error):
    """The daemon went away under the call (restarted): its outcome is
    unknown, not a failure."""
    return (isinstance(error, libvirt.libvirtError)
            and error.get_error_domain() in (libvirt.VIR_FROM_RPC,
                                             libvirt.VIR_FROM_REMOTE))


def is_aborted(error):
    return error_code(error) == libvirt.VIR_ERR_OPERATION_ABORTED


def job_active(dom):
    """Whether the domain has a job running (a migration, on a source)."""
    try:
        return dom.jobInfo()[0] not in (libvirt.VIR_DOMAIN_JOB_NONE,
                                        libvirt.VIR_DOMAIN_JOB_COMPLETED,
                                        libvirt.VIR_DOMAIN_JOB_FAILED,
                                        libvirt.VIR_DOMAIN_JOB_CANCELLED)
    except libvirt.libvirtError as e:
        # Gone, or not running (a source being undefined, a destination
        # defined but not started): no job either way.
        if error_code(e) in (libvirt.VIR_ERR_NO_DOMAIN,
                             libvirt.VIR_ERR_OPERATION_INVALID):
            return False
        raise


def wait_job_end(dom, timeout):
    """Until dom has no job running, or timeout seconds passed (a source
    whose migration libvirt is still ending)."""
    deadline = time.monotonic() + timeout
    while job_active(dom) and time.monotonic() < deadline:
        time.sleep(0.02)
