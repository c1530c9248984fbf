"""A scripted QMP monitor on a unix socket, for what real QEMU (run in
tests/functional/qemu) shows only by chance: a previous client's output,
events racing an answer, a RESUME after the last look, what a client asks
while QEMU is busy."""

import json
import select
import socket
import threading

GREETING = {'QMP': {'version': {'qemu': {'major': 7}}, 'capabilities': []}}


def answer(message, value):
    """QEMU's reply to the command ``message``, carrying its id."""
    return {'return': value, 'id': message.get('id')}


def event(name, microseconds=0, **data):
    """A QMP event as QEMU sends it, ``microseconds`` into a fixed second."""
    ev = {'event': name, 'timestamp': {'seconds': 1700000000,
                                       'microseconds': microseconds}}
    if data:
        ev['data'] = data
    return ev


class Connection:
    """QEMU's side of one client's session, for a test's script."""

    def __init__(self, conn):
        self._conn = conn
        self._buf = b''

    def send(self, *lines):
        self._conn.sendall(b''.join(json.dumps(x).encode() + b'\n' for x in lines))

    def command(self):
        """The client's next command; None once it hung up."""
        while b'\n' not in self._buf:
            data = self._conn.recv(65536)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def asked(self):
        """Whether the client sent anything not read yet."""
        return bool(self._buf) or bool(select.select([self._conn], [], [], 0)[0])


def script(path, run):
    """Accept one client on path and run ``run(Connection)`` in a thread,
    which is returned; the connection closes when run returns."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def accept():
        conn, _ = server.accept()
        server.close()
        with conn:
            run(Connection(conn))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return thread


def serve(path, reply, first_lines=(GREETING,)):
    """Accept one client on path: send first_lines, then for each command
    the lines ``reply(message)`` returns, in order (its answer and any
    events around it)."""
    def run(conn):
        conn.send(*first_lines)
        while (message := conn.command()) is not None:
            conn.send(*reply(message))

    return script(path, run)
