from oslo_config import cfg

GROUP = cfg.OptGroup('conductor', title='Conductor options')

OPTS = [
    cfg.IntOpt('max_concurrent_moves', default=8, min=1,
               help='Moves that one conductor runs at the same time; '
                    'further moves wait in its queue.'),
    cfg.StrOpt('resume_policy', default='resume',
               choices=[('resume', 'carry an interrupted move on from its '
                                   'persisted steps'),
                        ('rollback', 'revert a move interrupted before its '
                                     'point of no return')],
               help='What a conductor does with a move that a stopped '
                    'conductor left unfinished. After the point of no '
                    'return a move always rolls forward.'),
    cfg.FloatOpt('watch_interval', default=1.0, min=0.05,
                 help='Seconds between two looks of a conductor for moves '
                      'that other processes accepted, or that operators '
                      'resumed or reverted, for its database.'),
    cfg.IntOpt('cleanup_attempts', default=3, min=1,
               help='Attempts of the cleanup phase after the point of no '
                    'return before the move ends "failed".'),
    cfg.FloatOpt('cleanup_retry_delay', default=0.5, min=0,
                 help='Seconds to wait between two cleanup attempts.'),
    cfg.FloatOpt('poll_interval', default=0.5, min=0.001,
                 help='Longest wait between two looks at a running live '
                      'migration: its progress, an operator\'s abort, the '
                      'stall policy and the completion timeout. The drivers '
                      'answer as soon as the migration ends (and the qemu '
                      'driver whenever QEMU reports a change), so this bounds '
                      'how stale the progress gets and how soon an abort is '
                      'acted on, not how late a migration is seen to converge. '
                      'Each look through the rpc driver is a round trip to the '
                      'source\'s agent: at 0.05 s the looks were about a third '
                      'of the CPU the conductor, the agents and RabbitMQ spent '
                      'on a live migration of a 1 GiB guest. Nova\'s monitor '
                      'looks every 0.5 s.'),
    cfg.FloatOpt('migration_timeout', default=600.0, min=1,
                 help='Seconds a live migration may take before the move '
                      'gives up and reverts.'),
    cfg.FloatOpt('storage_retry_max_interval', default=5.0, min=0.1,
                 help='Longest wait, in seconds, between two attempts of a '
                      'move\'s write while the database is unavailable '
                      '(unreachable, restarting, disk full). Moves wait '
                      'for the database as long as it takes; they are '
                      'never reverted because their records could not be '
                      'written.'),
    cfg.FloatOpt('storage_log_interval', default=30.0, min=0,
                 help='Seconds between two log lines about one cause of a '
                      'database outage (one warning naming the cause, '
                      'then silence until this interval has passed).'),
    cfg.IntOpt('idle_transaction_timeout', default=10, min=0,
               help='Seconds after which the database ends a session left '
                    'idle inside a transaction (PostgreSQL\'s '
                    'idle_in_transaction_session_timeout, MariaDB\'s '
                    'idle_transaction_timeout; MySQL and SQLite have '
                    'none). A conductor frozen or cut off in the middle of '
                    'a transaction then releases its row locks, so the '
                    'conductor taking its moves over is not held up by '
                    'them; the frozen one finds its claim lost when it '
                    'wakes. 0: never. Keep it below [jobboard] '
                    'claim_expiry.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
