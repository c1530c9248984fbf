"""``move_orchestrator.api.wsgi:application`` for a WSGI server (uWSGI,
gunicorn, mod_wsgi). The configuration files are those of
``MOVE_ORCHESTRATOR_CONFIG_FILES`` (comma-separated), else oslo.config's
default places (/etc/move-orchestrator/move-orchestrator.conf, ...).
"""

import os

from move_orchestrator.api import server


def init_application():
    files = os.environ.get('MOVE_ORCHESTRATOR_CONFIG_FILES')
    argv = []
    for path in filter(None, (files or '').split(',')):
        argv += ['--config-file', path.strip()]
    return server.setup(argv)


application = init_application()
