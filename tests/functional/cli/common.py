"""The CLI run as a user would: separate processes on a SQLite cloud
loaded with ``move-orchestrator-manage inventory load``."""

import json
import os
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)
# Moves to compute3 revert (the disk copy fails); to compute4 they fail
# (the revert's disk deletion fails too); a live migration to compute5
# takes 2 s to prepare.
FAULTS = ('copy_disk@compute3=fail, copy_disk@compute4=fail, '
          'delete_disk@compute4=fail, prepare_incoming@compute5=slow')
INVENTORY = {
    'flavors': [{'name': 'm1.small', 'vcpus': 1, 'ram_mb': 2048,
                 'disk_gb': 20},
                {'name': 'm1.tiny', 'vcpus': 1, 'ram_mb': 512, 'disk_gb': 1},
                {'name': 'huge', 'vcpus': 64, 'ram_mb': 4096,
                 'disk_gb': 20}],
    'hosts': [{'name': 'compute%d' % i, 'vcpus': 16, 'ram_mb': 65536,
               'disk_gb': 1000, 'cpu_model': 'Cascadelake'}
              for i in range(1, 6)] + [
        {'name': 'big', 'vcpus': 128, 'ram_mb': 65536, 'disk_gb': 1000,
         'cpu_model': 'Cascadelake'}],
    'instances': [{'name': 'vm%d' % i, 'host': 'compute1',
                   'flavor': 'm1.small',
                   'power_state': 'running' if i % 2 else 'shutdown'}
                  for i in range(1, 9)] + [
        {'name': 'whale', 'host': 'big', 'flavor': 'huge'},
        {'name': 'minnow', 'host': 'big', 'flavor': 'm1.tiny'}],
}


def run(tmp_path, program, *args, config=None, env=None):
    cmd = [os.path.join(BIN, program)]
    if config:
        cmd += ['--config-file', str(config)]
    return subprocess.run(cmd + list(args), cwd=tmp_path, capture_output=True,
                          timeout=120,
                          env=dict(os.environ, **dict({'COLUMNS': '120'}, **(env or {}))))


def text(proc):
    return proc.stdout.decode(), proc.stderr.decode()


def write_config(path, **sections):
    lines = []
    for section, values in sections.items():
        lines.append('[%s]' % section)
        lines += ['%s = %s' % kv for kv in values.items()]
    path.write_text('\n'.join(lines) + '\n')
    return path


def mo(cloud, *args, env=None):
    path, config = cloud
    return run(path, 'move-orchestrator', *args, config=config, env=env)


def show(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def wait_state(cloud, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        state = mo(cloud, 'task', 'show', task_id, '-f', 'value', '-c',
                   'State').stdout.decode().strip()
        if state in ('completed', 'reverted', 'failed') or \
                time.monotonic() > deadline:
            return state
        time.sleep(0.2)
