"""Whether a conductor observes state changes for notifications at all,
and what it sends."""

import json

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging.notify import _impl_test

from move_orchestrator import conf as mo_conf
from move_orchestrator import notifications


def _conf(**notification_opts):
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator', default_config_files=[])
    transport = messaging.get_notification_transport(conf, url='fake://')
    for name, value in notification_opts.items():
        conf.set_override(name, value, 'oslo_messaging_notifications')
    return conf, transport


def test_no_observer_without_a_notification_driver():
    """Else every state change would build a task document for nothing."""
    conf, transport = _conf()
    assert notifications.build(None, conf, transport=transport) is None


def test_observer_with_a_driver():
    conf, transport = _conf(driver=['log'])
    observer = notifications.build(None, conf, transport=transport)
    try:
        assert isinstance(observer, notifications.MoveNotifier)
    finally:
        observer.stop(timeout=5)


def test_no_observer_when_switched_off():
    conf, transport = _conf(driver=['log'])
    conf.set_override('notify_on_state_change', False, 'notifications')
    assert notifications.build(None, conf, transport=transport) is None


def test_a_task_document_is_sent_as_built(cloud):
    """The notifier does not walk the payload (to_primitive): the document
    must be JSON as it is, timestamps included."""
    conf, transport = _conf(driver=['test'])
    conf.set_override('notify_on_state_change', True, 'notifications')
    _impl_test.reset()
    observer = notifications.build(cloud.services.records, conf,
                                   transport=transport)
    move = cloud.move('vm1', destination='host3')
    try:
        observer(move['id'], 'completed')
    finally:
        observer.stop(timeout=5)
    [(_ctxt, message, priority, _retry)] = _impl_test.NOTIFICATIONS
    assert (message['event_type'], priority) == ('move.completed', 'INFO')
    assert message['payload'] == notifications.payload(
        cloud.services.records.get_task(move['id']))
    assert json.loads(json.dumps(message['payload'])) == message['payload']
