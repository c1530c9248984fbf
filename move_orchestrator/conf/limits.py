from oslo_config import cfg

GROUP = cfg.OptGroup(
    'limits', title='Concurrency limits',
    help='How many moves may run at once across every conductor of the '
         'database. A move over a limit waits in "accepted", first in '
         'first out, and its task says what it waits for. 0 means '
         'unlimited.')

OPTS = [
    cfg.IntOpt('max_moves', default=0, min=0,
               help='Moves running at once in the whole cloud. Each '
                    'conductor also runs at most [conductor] '
                    'max_concurrent_moves of them.'),
    cfg.IntOpt('max_outbound_live_per_host', default=1, min=0,
               help='Live migrations leaving one host at once (as Nova\'s '
                    'max_concurrent_live_migrations): each copies memory '
                    'over the host\'s network while its guest runs.'),
    cfg.IntOpt('max_outbound_per_host', default=2, min=0,
               help='Moves of any type copying from one host at once (live '
                    'and cold migrations, resizes). Evacuations do not '
                    'count: their source is down and sends nothing.'),
    cfg.IntOpt('max_inbound_per_host', default=2, min=0,
               help='Moves arriving on one host at once, evacuations '
                    'included (they rebuild from the image there).'),
    cfg.DictOpt('max_moves_per_type', default={},
                help='Moves of one type running at once in the cloud, as '
                     'type:count pairs, e.g. "evacuate:4,resize:2". Types '
                     'not listed are unlimited.'),
]

MOVE_TYPES = ('live-migrate', 'cold-migrate', 'resize', 'evacuate',
              'live-resize')


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
