"""Install libvirt-python into the running (tox) environment, if it can be.

libvirt-python is built against the machine's libvirt, so it is not in
test-requirements.txt: where libvirt's headers are missing (``.ci/run``'s
install_libvirt installs them) this does nothing, and the libvirt tests skip
with the command that installs libvirt (or fail, under ``CI=true``).
"""

import importlib.util
import shutil
import subprocess
import sys


def headers_present():
    if shutil.which('pkg-config') is None:
        return False
    return subprocess.run(['pkg-config', '--exists', 'libvirt']).returncode == 0


def main():
    if importlib.util.find_spec('libvirt') is not None:
        return 0
    if not headers_present():
        print('libvirt headers not found: libvirt-python not installed '
              '(the libvirt tests will skip)')
        return 0
    return subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet',
                            'libvirt-python'])


if __name__ == '__main__':
    sys.exit(main())
