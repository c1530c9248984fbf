"""doc/source/service.rst, followed step by step: its config file, its
inventory file and its commands, in its order, on PostgreSQL and RabbitMQ.

Only what cannot be the same here is changed: the URLs of the config file
point at this test's private RabbitMQ virtual host and fresh PostgreSQL
database, and ``pip install`` is checked (the extra it names exists and
brings the driver) rather than run, as the package is installed already.
"""

import importlib.metadata
import os
import re
import shlex
import signal
import subprocess

from tests.db_fixtures import postgresql_url  # noqa: F401
from tests.functional.rpc import harness

DOC = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                   'source', 'service.rst')


def code_blocks(text):
    """[(language, caption, body)] of the page's code-block directives."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r'^(\s*)\.\. code-block:: (\w+)', line)
        if not match:
            continue
        indent = len(match.group(1))
        caption, body, j = None, [], i + 1
        while j < len(lines) and (not lines[j].strip() or
                                  lines[j].strip().startswith(':')):
            if lines[j].strip().startswith(':caption:'):
                caption = lines[j].split(':caption:', 1)[1].strip()
            j += 1
        while j < len(lines) and (not lines[j].strip() or
                                  len(lines[j]) - len(lines[j].lstrip())
                                  > indent):
            body.append(lines[j])
            j += 1
        width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        blocks.append((match.group(2), caption,
                       '\n'.join(b[width:] for b in body).strip() + '\n'))
    return blocks


def test_the_service_quick_start(tmp_path, postgresql_url):  # noqa: F811
    with open(DOC) as f:
        blocks = code_blocks(f.read())
    files = {caption: body for _, caption, body in blocks if caption}
    commands = [line[2:] for lang, _, body in blocks if lang == 'console'
                for line in body.splitlines() if line.startswith('$ ')]
    assert set(files) == {'mo.conf', 'inventory.yaml'}
    assert len(commands) == 9, commands
    with harness.private_vhost() as broker_url:
        config = re.sub(r'(?m)^transport_url = .*$',
                        'transport_url = %s' % broker_url, files['mo.conf'])
        config = re.sub(r'(?m)^connection = .*$',
                        'connection = %s' % postgresql_url, config)
        (tmp_path / 'mo.conf').write_text(config)
        (tmp_path / 'inventory.yaml').write_text(files['inventory.yaml'])
        conductor, outputs = None, {}
        try:
            for command in commands:
                argv = shlex.split(command)
                if argv[:2] == ['pip', 'install']:
                    extra = re.match(r"move-orchestrator\[(\w+)\]",
                                     argv[2]).group(1)
                    requires = importlib.metadata.requires(
                        'move-orchestrator')
                    assert any('extra == "%s"' % extra in r and 'psycopg2'
                               in r for r in requires), requires
                    continue
                argv[0] = os.path.join(harness.BIN, argv[0])
                if argv[-1] == '&':
                    log = open(tmp_path / 'conductor.log', 'wb')
                    conductor = subprocess.Popen(
                        argv[:-1], cwd=tmp_path, stdout=log,
                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                    harness.wait_for(
                        lambda: b'serving topic' in (
                            tmp_path / 'conductor.log').read_bytes()
                        or conductor.poll() is not None, timeout=60)
                    assert conductor.poll() is None, (
                        tmp_path / 'conductor.log').read_text()
                    continue
                proc = subprocess.run(argv, cwd=tmp_path, capture_output=True,
                                      text=True, timeout=120)
                assert proc.returncode == 0, (command, proc.stderr[-2000:])
                outputs[command] = proc.stdout
        finally:
            if conductor is not None and conductor.poll() is None:
                conductor.send_signal(signal.SIGTERM)
                assert conductor.wait(60) == 0
    out = '\n'.join(outputs.values())
    assert 'instances: 2 created' in out
    show = [o for c, o in outputs.items() if 'instance show db1' in c][0]
    assert 'm1.large' in show
    assert out.count('completed') >= 2
