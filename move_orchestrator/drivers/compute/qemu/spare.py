"""A spare watcher: an interpreter started ahead, waiting for a migration.

A watcher's interpreter takes tens of ms of CPU to start, in the migration's
window, on cores the two QEMUs need. So watchers.py keeps one spare per
watcher kind, started off that window (``python -I -S spare.py WATCHER``):
it imports the watcher (switchover.py or arrival.py) at once, then blocks
reading its stdin, a pipe from the process that started it. That process
hands it one JSON line, ``{"log": path, "argv": [...]}``, and from then on
it is that watcher, as if started with argv: its stderr the log, its stdin
no more the pipe, so it outlives the process that used it (the point of
the switch-over watcher: no guest is left paused by a dead conductor). A
spare never used ends when that pipe does (EOF: its parent ended or died).

The standard library only, and only what the watcher imports anyway.
"""

import json
import os
import sys


def _handed():
    """The line the parent hands over, or None at EOF."""
    data = b''
    while not data.endswith(b'\n'):
        chunk = os.read(0, 65536)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def _become(log):
    """The watcher's stderr is its log (appended, as a direct start's);
    its stdin /dev/null: the parent's pipe no longer matters."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(fd, 2)
    os.close(fd)
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def main(script):
    # A bare interpreter: the watcher's module is the file beside this one.
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    watcher = __import__(os.path.basename(script)[:-len('.py')])
    try:
        handed = _handed()
    except (OSError, ValueError):
        handed = None
    if handed is None:
        return 0            # never used: its parent ended
    _become(handed['log'])
    return watcher.main(handed['argv'])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
