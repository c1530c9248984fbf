from oslo_config import cfg

GROUP = cfg.OptGroup('compute', title='Compute driver options')

OPTS = [
    cfg.StrOpt('driver', default='fake',
               help='Compute driver that moves the instances, loaded from the '
                    '"move_orchestrator.compute_drivers" entry point '
                    'namespace: "fake" (simulated hypervisors whose state '
                    'lives in the database).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
