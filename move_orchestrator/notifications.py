"""Versioned notifications of move state changes.

A compute API listening on ``versioned_notifications`` learns of every move
state change without polling: event type ``move.<state>``, payload the task
document plus ``payload_version``. Built by a Recorder observer, so only
changes that were recorded are announced, with the document as it was then
(``move.accepted``, written when the move is accepted, is sent by the RPC
manager that accepted it);
sent in order by one background thread, so a broker outage delays the
notifications (oslo.messaging retries them) but never the move.
"""

import queue
import threading

from oslo_log import log as logging

from move_orchestrator import context as mo_context
from move_orchestrator import rpc

LOG = logging.getLogger(__name__)

# 1.0: the task document of records.tasks.build_document.
PAYLOAD_VERSION = '1.0'
ERROR_STATES = ('failed',)


def event_type(state):
    return 'move.%s' % state


def payload(task):
    return dict(task, payload_version=PAYLOAD_VERSION)


class MoveNotifier:
    """A Recorder observer: ``observer(move_id, new_state)``."""

    def __init__(self, notifier, records):
        self.notifier = notifier
        self.records = records
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._send_loop,
                                        name='move-notifier', daemon=True)
        self._thread.start()

    def __call__(self, move_id, state):
        self.emit(self.records.get_task(move_id), state)

    def emit(self, task, state=None):
        self._queue.put((task, state or task['state']))

    def _send_loop(self):
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._send(*item)
            except Exception:
                LOG.exception('Could not send the notification of move %s',
                              item[0]['id'])
            finally:
                self._queue.task_done()

    def _send(self, task, state):
        ctxt = mo_context.RequestContext(
            user_id=task.get('user_id'), project_id=task.get('project_id'),
            overwrite=False)
        send = self.notifier.error if state in ERROR_STATES \
            else self.notifier.info
        send(ctxt, event_type(state), payload(task))

    def stop(self, timeout=None):
        """Send what is queued (for at most ``timeout`` seconds), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)


def build(records, conf, transport=None):
    """A MoveNotifier, or None when ``[notifications]
    notify_on_state_change`` is off or no notification driver is set."""
    if not conf.notifications.notify_on_state_change:
        return None
    transport = transport or rpc.get_notification_transport(conf)
    notifier = rpc.get_notifier(transport, 'move-orchestrator.%s'
                                % conf.host, conf=conf)
    # oslo.messaging calls a notifier without any driver enabled (only
    # 'noop' is off); no observer then: it would build a task document per
    # state change, in the move's thread, for nothing.
    if not notifier.is_enabled() or not conf.oslo_messaging_notifications.driver:
        LOG.info('Notifications are off: no [oslo_messaging_notifications] '
                 'driver is set')
        return None
    return MoveNotifier(notifier, records)


def setup(recorder, records, conf, transport=None):
    """A MoveNotifier observing ``recorder``'s state changes (or None)."""
    observer = build(records, conf, transport)
    if observer is not None:
        recorder.observers.append(observer)
    return observer
