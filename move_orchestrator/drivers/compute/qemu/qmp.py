"""A small synchronous QMP client over a unix socket.

Why not ``qemu.qmp``: it is asyncio-only; the driver is called synchronously
from TaskFlow tasks, and a connection per operation (connect, greeting,
``qmp_capabilities``, a few commands, close) is simple and survives QEMU
restarts and conductor crashes without any state to reconcile.
"""

import json
import socket
import time

from move_orchestrator import exception


class QMPError(exception.DriverError):
    msg_fmt = 'QMP %(operation)s failed: %(reason)s'

    @property
    def error_class(self):
        return self.kwargs.get('error_class')


class QMPClient:
    """One QMP session; use as a context manager."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.events = []
        self._sock = None
        self._buf = b''
        self._next_id = 0

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as e:
            sock.close()
            raise QMPError(operation='connect', reason='%s: %s' % (self.path, e))
        self._sock = sock
        try:
            greeting = self._read()
            # QEMU keeps what it could not send to the previous client (an
            # event emitted as it hung up) and sends it to the next one
            # ahead of the greeting: skip it.
            for _ in range(100):
                if 'event' not in greeting and 'return' not in greeting \
                        and 'error' not in greeting:
                    break
                greeting = self._read()
        except TimeoutError:
            self.close()
            raise QMPError(operation='connect', reason='no greeting from %s' % self.path)
        if 'QMP' not in greeting:
            self.close()
            raise QMPError(operation='connect', reason='no greeting: %r' % greeting)
        self.execute('qmp_capabilities')
        # QEMU sends a client no event before its capabilities are
        # negotiated: one that came is the previous client's, unsent when
        # it hung up (seen after the greeting too). Kept, a stale
        # pre-switchover held a wait on a migration long completed.
        self.events = []

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read(self):
        while b'\n' not in self._buf:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as e:
                raise QMPError(operation='read', reason=str(e))
            if not data:
                raise QMPError(operation='read', reason='connection closed')
            self._buf += data
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def execute(self, command, **arguments):
        """Run a command; return its result or raise QMPError."""
        self._next_id += 1
        msg = {'execute': command, 'id': self._next_id}
        if arguments:
            msg['arguments'] = arguments
        try:
            self._sock.sendall(json.dumps(msg).encode() + b'\n')
        except OSError as e:
            raise QMPError(operation=command, reason=str(e))
        while True:
            try:
                reply = self._read()
            except TimeoutError:
                raise QMPError(operation=command, reason='no reply in %ss' % self.timeout)
            if 'event' in reply:
                self.events.append(reply)
            elif reply.get('id') == self._next_id:
                break
        if 'error' in reply:
            raise QMPError(operation=command, reason=reply['error'].get('desc'),
                           error_class=reply['error'].get('class'))
        return reply.get('return')

    def wait_event(self, names, timeout=None, match=None):
        """Wait for one of the named events (already received ones count);
        return it. Raises QMPError when none came in time."""
        if isinstance(names, str):
            names = (names,)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self.events):
                if ev['event'] in names and (match is None or match(ev)):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError(operation='wait_event',
                               reason='no %s event' % '/'.join(names))
            self._sock.settimeout(left)
            try:
                reply = self._read()
            except TimeoutError:
                continue
            finally:
                self._sock.settimeout(self.timeout)
            if 'event' in reply:
                self.events.append(reply)
