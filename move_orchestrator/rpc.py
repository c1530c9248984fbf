"""oslo.messaging plumbing: transports, targets, serializer, notifier.

Clients and the conductor service build their transports here so that both
sides agree on the topic, on which exception modules may cross the wire and
on how a RequestContext is carried.
"""

import importlib

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from move_orchestrator.conf import CONF
from move_orchestrator import context as mo_context
from move_orchestrator import redact

LOG = logging.getLogger(__name__)

TOPIC = 'move_orchestrator'
# Typed errors raised by the server are rebuilt as the same classes.
ALLOWED_EXMODS = ['move_orchestrator.exception']


def masked_url(url):
    """A transport URL fit for a log line: its password replaced by ***
    (oslo.utils' mask_password leaves a URL's password as it is)."""
    return redact.url(url)


class RequestContextSerializer(messaging.Serializer):
    """Entities pass through ``base``; contexts go as dicts and come back as
    our RequestContext."""

    def __init__(self, base=None):
        self._base = base or messaging.NoOpSerializer()

    def serialize_entity(self, ctxt, entity):
        return self._base.serialize_entity(ctxt, entity)

    def deserialize_entity(self, ctxt, entity):
        return self._base.deserialize_entity(ctxt, entity)

    def serialize_context(self, ctxt):
        return ctxt.to_dict() if ctxt is not None else {}

    def deserialize_context(self, ctxt):
        return mo_context.RequestContext.from_dict(ctxt or {})


def register_private_conf_opts(conf):
    """oslo.messaging registers [oslo_messaging_metrics] and
    [oslo_messaging_tracing] on the global CONF only, and then reads them
    from the transport's conf on every call(): a private ConfigOpts (tests,
    a compute API with its own) needs them too, or calls raise
    NoSuchOptError."""
    if conf is cfg.CONF:
        return
    for module, group in (('oslo_messaging._metrics.client',
                           'oslo_messaging_metrics'),
                          ('oslo_messaging._tracing.client',
                           'oslo_messaging_tracing')):
        try:
            opts = getattr(importlib.import_module(module), group)
        except (ImportError, AttributeError):  # an oslo.messaging without
            continue
        conf.register_opts(opts, group=group)


def get_rpc_transport(conf=CONF, url=None):
    register_private_conf_opts(conf)
    url = url or conf.transport_url
    LOG.debug('RPC transport %s', masked_url(url))
    return messaging.get_rpc_transport(conf, url=url,
                                       allowed_remote_exmods=ALLOWED_EXMODS)


def get_notification_transport(conf=CONF, url=None):
    register_private_conf_opts(conf)
    transport = messaging.get_notification_transport(conf, url=url)
    LOG.debug('Notification transport %s',
              masked_url(url or conf.oslo_messaging_notifications.transport_url
                         or conf.transport_url))
    return transport


def client_target(version):
    return messaging.Target(topic=TOPIC, version=version)


def as_raised_there(error):
    """A typed error from the server as its own class. oslo.messaging raises
    a subclass of it (named ``<class>_Remote``) whose str() appends the
    server's whole traceback, which would reach a task's reason, a step's
    error, the audit or the CLI's line; the traceback is in the server's
    log. Anything else is returned as it is."""
    cls = type(error)
    original = cls.__bases__[0]    # an exception's class has one at least
    if (cls.__name__ == original.__name__ + '_Remote'
            and original.__module__ in ALLOWED_EXMODS):
        error.__class__ = original   # args, kwargs and message kept
    return error


class _Prepared:
    """A prepared call context whose call() raises typed errors as the
    server raised them; everything else is the context's own."""

    def __init__(self, context):
        self._context = context

    def __getattr__(self, name):
        return getattr(self._context, name)

    def prepare(self, **kwargs):
        return _Prepared(self._context.prepare(**kwargs))

    def call(self, ctxt, method, **kwargs):
        try:
            return self._context.call(ctxt, method, **kwargs)
        except Exception as e:
            as_raised_there(e)
            raise


class Client(messaging.RPCClient):
    """Every RPC client of ours (oslo.messaging's ``client_cls``): call()
    and prepare().call() raise a server's typed error as its class."""

    def prepare(self, **kwargs):
        return _Prepared(super().prepare(**kwargs))

    def call(self, ctxt, method, **kwargs):
        return self.prepare().call(ctxt, method, **kwargs)


def get_client(transport, target, version_cap=None, timeout=None,
               call_monitor_timeout=None):
    return messaging.get_rpc_client(
        transport, target, client_cls=Client, version_cap=version_cap,
        timeout=timeout, call_monitor_timeout=call_monitor_timeout,
        serializer=RequestContextSerializer())


def get_server(transport, server, endpoints):
    """A threading RPC server on our topic, named after the conductor."""
    target = messaging.Target(topic=TOPIC, server=server)
    return messaging.get_rpc_server(
        transport, target, endpoints,
        serializer=RequestContextSerializer(),
        access_policy=messaging.DefaultRPCAccessPolicy)


def get_notifier(transport, publisher_id, conf=CONF):
    """A Notifier on the versioned topics; the driver comes from
    ``[oslo_messaging_notifications] driver`` (none: nothing is sent).

    Payloads go as they are, without JsonPayloadSerializer's to_primitive
    walk over the whole payload on every state change: a task document is
    primitive as built (records/tasks.py), and the drivers' jsonutils.dumps
    still converts anything else it meets.
    """
    return messaging.Notifier(
        transport, publisher_id=publisher_id,
        topics=conf.notifications.versioned_notifications_topics,
        serializer=RequestContextSerializer())
