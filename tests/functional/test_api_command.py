"""``move-orchestrator-api`` stops cleanly on SIGTERM and SIGINT, also
when started from a script in the background (which makes it ignore
SIGINT): it used to catch Ctrl-C's KeyboardInterrupt only, so SIGINT did
nothing there and SIGTERM killed it without its clean-up."""

import os
import re
import signal
import subprocess
import time

import pytest

from tests.functional.rpc import harness


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT],
                         ids=['SIGTERM', 'SIGINT'])
def test_the_api_stops_on_a_signal_though_started_in_the_background(
        tmp_path, sig):
    config = tmp_path / 'api.conf'
    config.write_text('[DEFAULT]\nhost = api\n'
                      '[database]\nconnection = sqlite:///%s\n'
                      '[api]\nbind_port = 0\nrun_moves = true\n'
                      % (tmp_path / 'mo.db'))
    log = tmp_path / 'api.log'
    with open(log, 'wb') as out:
        proc = subprocess.Popen(
            [os.path.join(harness.BIN, 'move-orchestrator-api'),
             '--config-file', str(config)], stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_ignore_sigint)
    try:
        harness.wait_for(lambda: re.search('serving on http', log.read_text())
                         or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
        proc.send_signal(sig)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 'stopping (%s)' % sig.name in log.read_text()
