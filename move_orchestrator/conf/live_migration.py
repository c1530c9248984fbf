"""[live_migration]: how the orchestrator follows a memory copy, and what
it does when one stalls.

The policy is the orchestrator's, whatever the driver: it watches the
remaining bytes and takes the next action of ``stall_actions`` when they
have not reached a new low for ``progress_timeout`` seconds. The drivers
only carry the actions out (see ``tune_migration`` of the compute driver).
"""

from oslo_config import cfg
from oslo_config import types

GROUP = cfg.OptGroup('live_migration',
                     title='Live migration progress reports and stall policy')

ACTIONS = ('auto_converge', 'post_copy', 'pause', 'abort')

OPTS = [
    cfg.FloatOpt('progress_timeout', default=150.0, min=0,
                 help='Seconds a live migration may go without progress '
                      'before the next of stall_actions is taken. Progress '
                      'is a new low of the remaining bytes, counted once per '
                      'pass over the memory where the driver tells its '
                      'passes apart (the qemu driver does): within a pass the '
                      'remaining bytes always fall, and only to rise again '
                      'at the next one, so a low taken at any moment says '
                      'nothing. A low counts when it is 1% of the migration\'s '
                      'total below the best one. The action is taken when the '
                      'next pass starts (or when the remaining bytes have not '
                      'fallen at all for this long). Passes are counted from '
                      'a tenth of this into the copy (a copy that ends '
                      'sooner is not looked at, at each pass), so the first '
                      'action comes up to a tenth of this and one pass '
                      'later. 0 disables the policy.'),
    cfg.ListOpt('stall_actions', default=['auto_converge', 'abort'],
                item_type=types.String(choices=ACTIONS),
                help='What is done, in this order, each time the progress '
                     'timeout passes: "auto_converge" (throttle the guest\'s '
                     'vCPUs, more at every pass that still dirties too much: '
                     'QEMU\'s auto-converge), "post_copy" (switch to '
                     'post-copy: skipped when the migration cannot, see '
                     '[qemu] permit_post_copy), "pause" (pause the guest '
                     'until the copy is over: it resumes on the destination '
                     'at the switch-over, or on the source if the migration '
                     'is cancelled), "abort" (cancel the migration: the move '
                     'reverts). Once every action has been taken the '
                     'migration is left to [conductor] migration_timeout.'),
    cfg.FloatOpt('progress_report_interval', default=1.0, min=0,
                 help='Seconds between two reports of a copy\'s progress '
                      '(its TransferMemory step\'s). Each report is a '
                      'database write of the conductor, made while the copy '
                      'wants every core of its hosts. A copy shorter than '
                      'this reports only its end; 0 reports whenever the copy '
                      'moved by 1% of its total.'),
    cfg.IntOpt('cpu_throttle_initial', default=20, min=1, max=99,
               help='Percentage of CPU time the guest loses when '
                    'auto_converge starts throttling it.'),
    cfg.IntOpt('cpu_throttle_increment', default=10, min=1, max=99,
               help='Percentage added to the throttle at each pass over the '
                    'memory that still dirties more than half of what it '
                    'sent (up to 99).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
