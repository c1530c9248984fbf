from oslo_config import cfg

GROUP = cfg.OptGroup('network', title='Network (port binding) driver options')

OPTS = [
    cfg.StrOpt('driver', default='fake', choices=['fake'],
               help='Network driver the conductor binds, activates and '
                    'removes an instance\'s ports with (Neutron\'s port '
                    'bindings in a real cloud). "fake" keeps one row per '
                    'instance and host in the database: durable, and the '
                    'same for every compute driver.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
