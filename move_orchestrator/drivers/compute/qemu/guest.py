"""Build the tiny test guest (``guest/guest.s``) with the machine's binutils.

The binary is never committed: it is assembled and linked on first use into a
cache directory keyed by the source's hash, so an edited source rebuilds and
concurrent builders do not step on each other (build in a temporary
directory, then rename).
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

from oslo_log import log as logging

from move_orchestrator import exception

LOG = logging.getLogger(__name__)

SOURCE = os.path.join(os.path.dirname(__file__), 'guest', 'guest.s')
TOOLS = ('as', 'ld')
INSTALL_HINT = 'install binutils (apt-get install -y binutils)'


def default_cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'move-orchestrator', 'guest')


def command_line(fill_mb=0, dirty=False, pages=0):
    """The kernel command line the guest understands: ``pages`` paces a
    dirtying guest (pages rewritten per 5 ms tick; 0: without a pause)."""
    return 'fill=%d dirty=%d pages=%d' % (max(0, int(fill_mb)), 1 if dirty else 0,
                                          max(0, int(pages)))


def _run(argv, cwd):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise exception.DriverError(
            operation='build_guest',
            reason='%s failed: %s' % (' '.join(argv), proc.stderr.strip()))


def build(cache_dir=None):
    """Return the path of the guest kernel, building it when needed."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise exception.DriverError(
            operation='build_guest',
            reason='%s not found: %s' % (', '.join(missing), INSTALL_HINT))
    with open(SOURCE, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    cache_dir = cache_dir or default_cache_dir()
    target = os.path.join(cache_dir, 'guest-%s.elf' % digest)
    if os.path.exists(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        _run(['as', '--32', '-o', 'guest.o', SOURCE], tmp)
        _run(['ld', '-m', 'elf_i386', '-N', '-Ttext=0x100000', '-e', '_start',
              '--build-id=none', '--no-warn-rwx-segments', '-s',
              '-o', 'guest.elf', 'guest.o'], tmp)
        os.replace(os.path.join(tmp, 'guest.elf'), target)
    LOG.info('Built the test guest kernel %s', target)
    return target
