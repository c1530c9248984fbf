from oslo_config import cfg

GROUP = cfg.OptGroup('api', title='The task API over HTTP '
                                  '(move-orchestrator-api)')

OPTS = [
    cfg.StrOpt('auth_strategy', default='noauth',
               choices=[('noauth', 'the caller is taken from the X-User-Id, '
                                   'X-Project-Id and X-Roles headers: for '
                                   'the embedded mode and tests only'),
                        ('keystone', 'keystonemiddleware auth_token checks '
                                     'the X-Auth-Token; configure it in '
                                     '[keystone_authtoken]')],
               help='How the API learns who calls it.'),
    cfg.HostAddressOpt('bind_host', default='127.0.0.1',
                       help='Address move-orchestrator-api listens on '
                            '(its own server; behind a WSGI server, '
                            'that server\'s).'),
    cfg.PortOpt('bind_port', default=9880,
                help='Port move-orchestrator-api listens on.'),
    cfg.IntOpt('max_limit', default=1000, min=1, max=1000,
               help='The largest page a list returns; also the page size '
                    'when a request gives no limit.'),
    cfg.BoolOpt('run_moves', default=True,
                help='Run the moves in the API process when no conductor '
                     'runs this database\'s moves (the embedded mode). '
                     'Moves accepted otherwise are taken up by a '
                     'conductor watching the same database. No effect with '
                     '[jobboard] backend set: the API only posts its moves '
                     'on the board, for the conductor services.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
