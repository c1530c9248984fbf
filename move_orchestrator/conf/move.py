from oslo_config import cfg

GROUP = cfg.OptGroup('move', title='Move request options')

OPTS = [
    cfg.BoolOpt('allow_resize_to_same_host', default=False,
                help='Let a resize stay on the source host when no '
                     'destination is given and the host has room.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
