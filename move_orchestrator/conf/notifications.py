"""[notifications]: versioned notifications of move state changes.

Whether they are sent at all, and by which driver, is oslo.messaging's
``[oslo_messaging_notifications] driver`` (``messagingv2`` to send them).
"""

from oslo_config import cfg

GROUP = cfg.OptGroup('notifications', title='Notification options')

OPTS = [
    cfg.ListOpt('versioned_notifications_topics',
                default=['versioned_notifications'],
                help='Topics the versioned "move.<state>" notifications are '
                     'sent to.'),
    cfg.BoolOpt('notify_on_state_change', default=True,
                help='Send a notification for every move state change.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP.name: OPTS}
