"""oslo.log set up for every process of ours, with guards on every
handler: the values a line carries are escaped (a newline or an ANSI escape
in an instance name cannot forge a line or colour a terminal); whatever is
written, ours or a library's, traceback included, has its URLs' passwords
masked; and a failure logged with its exception says its root cause in its
first line (a StorageFailure's "database or disk is full", not only in the
chained traceback) and, repeated, is written once per REPEAT_INTERVAL with
the count of the ones held back.
"""

import logging as std_logging
import numbers
import threading
import time

from amqp import abstract_channel
from oslo_log import log as logging

from move_orchestrator import redact


class EscapeValues(std_logging.Filter):
    """The format string is ours; the values may be anybody's."""

    def filter(self, record):
        if isinstance(record.args, dict):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_safe(v) for v in record.args)
        elif not isinstance(record.msg, str):
            record.msg = _safe(record.msg)   # LOG.error(exc)
        return True


def _safe(value):
    if value is None or isinstance(value, (numbers.Number, bool)):
        return value
    return redact.escape(value, redact.LOG_VALUE_LIMIT)


REPEAT_INTERVAL = 30.0


def root_cause(exc):
    """The innermost exception of a chain (``raise ... from``, implicit
    context, TaskFlow's ``cause``)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = (getattr(exc, 'cause', None) if isinstance(
            getattr(exc, 'cause', None), BaseException) else None) or \
            exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


class RepeatedFailures(std_logging.Filter):
    """A WARNING or worse with an exception: its root cause appended to the
    first line; the same line again within REPEAT_INTERVAL held back and
    counted."""

    def __init__(self, interval=REPEAT_INTERVAL, clock=time.monotonic):
        super().__init__()
        self.interval, self.clock = interval, clock
        self._last = {}     # key -> (time written, held back since)
        self._lock = threading.Lock()

    def filter(self, record):
        if record.levelno < std_logging.WARNING or not record.exc_info or \
                getattr(record, '_mo_seen', False):
            return True
        record._mo_seen = True   # one decision for every handler
        exc = record.exc_info[1]
        cause = root_cause(exc) if exc is not None else None
        key = (record.name, str(record.msg), type(cause).__name__,
               str(cause)[:200])
        now = self.clock()
        with self._lock:
            written, held = self._last.get(key, (None, 0))
            if written is not None and now - written < self.interval:
                self._last[key] = (written, held + 1)
                record._mo_drop = True
                return False
            self._last[key] = (now, 0)
        suffix = ''
        if cause is not None and cause is not exc:
            suffix += ': caused by %s: %s' % (
                type(cause).__name__, redact.escape(cause, 500))
        if held:
            suffix += ' (%d more like this in the last %.0f s)' % (
                held, now - written)
        if suffix:
            record.msg = record.getMessage() + suffix
            record.args = None
        return True


class _Drop(std_logging.Filter):
    """Every handler honours the decision of the first one's filter."""

    def filter(self, record):
        return not getattr(record, '_mo_drop', False)


_REPEATS = RepeatedFailures()


class CancelOnClose(std_logging.Filter):
    """On stop, oslo.messaging deletes an RPC server's fanout queue with
    its consumer still on it; RabbitMQ notifies that cancel (basic.cancel,
    method (60, 30)) and the closing channel ignores it with a WARNING on
    every stop. Expected, so not a warning; any other method still is."""

    BASIC_CANCEL = (60, 30)

    def filter(self, record):
        return not (
            record.msg is abstract_channel.IGNORED_METHOD_DURING_CHANNEL_CLOSE
            and record.args and record.args[0] == self.BASIC_CANCEL)


class RedactingFormatter(std_logging.Formatter):
    """Wraps the formatter oslo.log chose; masks what it produced."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def format(self, record):
        return redact.text(self.inner.format(record))


def guard(handler, repeats=None):
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.addFilter(EscapeValues())
        handler.addFilter(repeats or _REPEATS)
        handler.addFilter(_Drop())
        handler.setFormatter(RedactingFormatter(
            handler.formatter or std_logging.Formatter()))


def setup(conf, name):
    """oslo.log's setup, then the guards on the root logger's handlers."""
    logging.setup(conf, name)
    amqp = std_logging.getLogger('amqp')
    if not any(isinstance(f, CancelOnClose) for f in amqp.filters):
        amqp.addFilter(CancelOnClose())
    for handler in std_logging.getLogger().handlers:
        guard(handler)
