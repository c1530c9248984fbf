"""A scripted QMP monitor on a unix socket, for what real QEMU (run in
tests/functional/qemu) shows only by chance: a previous client's output,
events racing an answer, a RESUME after the last look."""

import json
import socket
import threading

GREETING = {'QMP': {'version': {'qemu': {'major': 7}}, 'capabilities': []}}


def answer(message, value):
    """QEMU's reply to the command ``message``, carrying its id."""
    return {'return': value, 'id': message.get('id')}


def serve(path, reply, first_lines=(GREETING,)):
    """Accept one client on path: send first_lines, then for each command
    the lines ``reply(message)`` returns, in order (its answer and any
    events around it)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn, conn.makefile('rwb') as f:
            for line in first_lines:
                f.write(json.dumps(line).encode() + b'\n')
            f.flush()
            for raw in f:
                for line in reply(json.loads(raw)):
                    f.write(json.dumps(line).encode() + b'\n')
                f.flush()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
