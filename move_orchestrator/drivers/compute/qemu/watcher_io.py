"""What the host-side watchers share: their own QMP session, the JSON
files they and the driver read, QEMU's event times, and the "listening"
they say to the process that started them.

The watchers (switchover.py on a migration's source, arrival.py on its
destination) run in a bare interpreter (``-I -S``, the standard library
only: the package's imports take seconds on a loaded host), so this module
imports nothing of the project; its monitor client is its own (the
driver's, qmp.py, needs the package).
"""

import json
import os
import socket
import sys
import time


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return default


def write_json(path, data):
    """Atomically: a crash never leaves half a file, and the driver reads
    the watchers' files while they write."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.replace(tmp, path)


class MonitorError(Exception):
    """The watcher's monitor failed (QEMU gone, no reply, an error)."""


class Monitor:
    """The watcher's QMP session: commands, and the events as they come."""

    def __init__(self, path, timeout):
        self.events = []
        self._buf = b''
        self._next_id = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
            while 'QMP' not in self._read():
                pass
            self.execute('qmp_capabilities')
            # None is sent before the negotiation: a previous client's.
            self.events = []
        except (OSError, MonitorError) as e:
            self.close()
            raise MonitorError('%s: %s' % (path, e))

    def close(self):
        self._sock.close()

    def _read(self):
        while b'\n' not in self._buf:
            data = self._sock.recv(65536)
            if not data:
                raise MonitorError('connection closed')
            self._buf += data
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def execute(self, command, **arguments):
        # The id tells this command's reply from a previous client's that
        # QEMU could not send before it hung up.
        self._next_id += 1
        msg = {'execute': command, 'arguments': arguments, 'id': self._next_id}
        try:
            self._sock.sendall(json.dumps(msg).encode() + b'\n')
            while True:
                reply = self._read()
                if 'event' in reply:
                    self.events.append(reply)
                elif reply.get('id') == self._next_id:
                    break
        except OSError as e:
            raise MonitorError('%s: %s' % (command, e))
        if 'error' in reply:
            raise MonitorError('%s: %s' % (command, reply['error'].get('desc')))
        return reply['return']

    def wait_event(self, name, timeout):
        """The next ``name`` event (others are kept), or None in time."""
        deadline = time.monotonic() + timeout
        timeout = self._sock.gettimeout()
        try:
            while True:
                for i, ev in enumerate(self.events):
                    if ev['event'] == name:
                        return self.events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._sock.settimeout(left)
                try:
                    reply = self._read()
                except TimeoutError:
                    continue
                except OSError as e:
                    raise MonitorError(str(e))
                if 'event' in reply:
                    self.events.append(reply)
        finally:
            self._sock.settimeout(timeout)


def timestamp(event):
    """When QEMU emitted the event, in seconds since the epoch."""
    ts = event.get('timestamp', {})
    return ts.get('seconds', 0) + ts.get('microseconds', 0) / 1e6


def announce():
    """Say "listening" to the process that started the watcher; it may be
    gone (killed while it waited), which must not end the watcher."""
    try:
        print('listening', flush=True)
        os.close(1)
    except OSError:
        pass
    sys.stdout = sys.stderr
