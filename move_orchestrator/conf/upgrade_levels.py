"""[upgrade_levels]: RPC version caps during a rolling upgrade, as Nova's."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'upgrade_levels', title='RPC version caps',
    help='While services of two releases run side by side, cap the RPC '
         'version the clients send so that the older servers understand '
         'them. Unset means the newest version this client knows.')

OPTS = [
    cfg.StrOpt('conductor',
               help='Highest RPC API version sent to the conductor service, '
                    'for example "1.0". A method newer than the cap is '
                    'refused on the client side.'),
    cfg.StrOpt('compute',
               help='Highest compute agent API version the rpc compute '
                    'driver sends, for example "1.1" while some agents run '
                    'the previous release. Below 1.7 a live migration\'s '
                    'destination is prepared and reached through its files '
                    '(prepare_incoming, as before) instead of accepting the '
                    'migration over the network and confirming its '
                    'arrival itself. Below 1.5 a disk is copied by '
                    'the source\'s agent in one call (copy_disk, which '
                    'needs hosts that see each other\'s files) instead of '
                    'exported and imported over the network. Below 1.4 '
                    'the stall policy\'s '
                    'actions (tune_migration) are refused with '
                    'AgentTooOld; below 1.3 a live resize reverts at its '
                    'pre-check. Below 1.2 start_migration is sent '
                    'without the move\'s id; below 1.10 a live '
                    'migration\'s wait ends at each pass over the memory, '
                    'below 1.11 it looks at each; '
                    'below 1.1 wait_migration '
                    'sleeps and polls, and whether two hosts share storage '
                    'is read from the storage groups the agents registered. '
                    'Unset: the newest version (every agent upgraded).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
