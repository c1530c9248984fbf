"""What the CLI prints when a command fails: one line on stderr,
``Error: <why>``; the traceback only with ``--debug``.

A typed error from the conductor service arrives as the class the service
raised (move_orchestrator/rpc.py), its ``str()`` the line the service meant,
escaped and bounded here like any other.
"""

import sys
import traceback

from oslo_db import exception as db_exc
import sqlalchemy.exc

from move_orchestrator.conf import CONF
from move_orchestrator import exception
from move_orchestrator import redact

LINE_LIMIT = 400


def one_line(exc):
    if isinstance(exc, exception.MoveOrchestratorException):
        text = str(exc)    # all of it: a newline in it is escaped below
    elif isinstance(exc, (db_exc.DBError, sqlalchemy.exc.SQLAlchemyError)):
        cause = getattr(exc, 'inner_exception', None) or exc
        cause = getattr(cause, 'orig', None) or cause  # the driver's own
        text = 'database %s: %s' % (redact.url(CONF.database.connection),
                                    _first_line(cause))
    else:
        text = _messaging_line(exc) or _first_line(exc) or type(exc).__name__
    return redact.escape(redact.text(text), LINE_LIMIT)


def _first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ''


def _messaging_line(exc):
    import oslo_messaging as messaging
    if isinstance(exc, messaging.MessagingTimeout):
        return ('the conductor service did not answer within %s s '
                '(rpc_response_timeout) on %s: is it running, is the broker '
                'reachable?' % (CONF.rpc_response_timeout,
                                redact.url(CONF.transport_url)))
    if isinstance(exc, messaging.MessageDeliveryFailure):
        return ('could not reach the message broker at %s: %s'
                % (redact.url(CONF.transport_url), _first_line(exc)))
    return None


class ErrorReporter:
    """Stands in for cliff's App.LOG: cliff reports a command's failure
    with ``LOG.error(exc)`` (``LOG.exception(exc)`` under --debug)."""

    def __init__(self, stderr=None):
        self.stderr = stderr or sys.stderr

    def error(self, msg, *args):
        if isinstance(msg, BaseException):
            line = one_line(msg)
        else:
            line = redact.escape(redact.text(msg % args if args else msg),
                                 LINE_LIMIT)
        self.stderr.write('Error: %s\n' % line)

    def exception(self, msg, *args):
        self.stderr.write(redact.text(traceback.format_exc()))
        self.error(msg, *args)

    def debug(self, *args, **kwargs):
        pass

    info = warning = debug
