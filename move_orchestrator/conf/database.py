"""The [database] group is oslo.db's; we only set its default."""

from oslo_db import options as db_options

DEFAULT_CONNECTION = 'sqlite:///move-orchestrator.db'


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)


def list_opts():
    # Listed by oslo-config-generator under its own "oslo.db" namespace.
    return {}
