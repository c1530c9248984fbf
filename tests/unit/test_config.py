"""The generated sample configuration is up to date."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_sample_config_is_current(tmp_path):
    out = tmp_path / 'sample.conf'
    subprocess.run(
        [sys.executable, '-m', 'oslo_config.generator', '--config-file',
         os.path.join(ROOT, 'etc/oslo-config-generator/move-orchestrator.conf'),
         '--output-file', str(out)], check=True, cwd=ROOT,
        capture_output=True)
    with open(os.path.join(
            ROOT, 'etc/move-orchestrator/move-orchestrator.conf.sample')) as f:
        committed = f.read()
    assert out.read_text() == committed, (
        'etc/move-orchestrator/move-orchestrator.conf.sample is stale: run '
        '`tox -e genconfig`')
