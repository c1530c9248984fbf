from oslo_config import cfg

GROUP = cfg.OptGroup('jobboard', title='Jobboard options',
                     help='Conductors as a service: moves are posted as jobs '
                          'on a TaskFlow Redis jobboard, and any conductor '
                          'claims and runs them. Unset backend: the embedded '
                          'conductor (one process runs the moves of its '
                          'database).')

OPTS = [
    cfg.StrOpt('backend', secret=True,
               help='The board: redis://[:password@]host[:port][/db]. Unset: '
                    'no jobboard (embedded mode).'),
    cfg.StrOpt('board_name', default='move-orchestrator',
               help='The board (a Redis key namespace) shared by the '
                    'conductors of one deployment.'),
    cfg.FloatOpt('claim_expiry', default=30.0, min=1.0,
                 help='Seconds a claim on a move lives unless its conductor '
                      'renews it: how long the moves of a dead conductor '
                      'wait before another one takes them over.'),
    cfg.FloatOpt('renew_interval', default=10.0, min=0.1,
                 help='Seconds between two renewals of a conductor\'s '
                      'claims; must be well below claim_expiry.'),
    cfg.IntOpt('workers', default=8, min=1,
               help='Moves one conductor process runs at the same time.'),
    cfg.FloatOpt('poll_interval', default=0.5, min=0.01,
                 help='Longest wait of an idle conductor between two looks '
                      'for jobs on the board.'),
    cfg.StrOpt('sentinel',
               help='Redis Sentinel: the name of the monitored master (the '
                    'backend URL then names a sentinel).'),
    cfg.ListOpt('sentinel_fallbacks', default=[],
                help='Redis Sentinel: more sentinels, host:port each.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
