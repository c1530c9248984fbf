"""What may leave the process as text: URLs without their password, and
values quoted bounded and escaped so that they cannot forge a log line or
move a terminal's cursor.

Neither oslo.utils (``mask_password`` leaves ``user:pass@`` in a URL as it
is) nor oslo.messaging (``TransportURL`` prints its password) masks a URL, so
the URL's own parser is used: SQLAlchemy's ``hide_password`` for database
URLs, oslo.messaging's ``TransportURL`` for broker URLs; free text (an error
of a failed connection, a third-party log line) is scanned for
``scheme://user:password@``.
"""

import re

from oslo_config import cfg
from oslo_utils import strutils

SECRET = '***'
# scheme://user:password@ (and the further ",user:password@" hosts of a
# multi-host transport URL).
_USERINFO = re.compile(r'(?P<head>(?:[a-zA-Z][\w+.-]*://|,)[^:/@\s,]*:)'
                       r'(?P<password>[^@\s]*)(?P<at>@)')
# C0 and C1 controls, DEL and the Unicode line separators: what a terminal
# or a log reader would act on instead of showing.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')
QUOTE_LIMIT = 64
LOG_VALUE_LIMIT = 2000
_TRANSPORT_SCHEMES = ('rabbit', 'kafka', 'amqp', 'fake', 'kombu')


def url(value):
    """``value`` with the password of every host replaced by ***."""
    if not value:
        return ''
    value = str(value)
    scheme = value.split(':', 1)[0].split('+', 1)[0]
    try:
        if scheme in _TRANSPORT_SCHEMES:
            return _transport_url(value)
        from sqlalchemy.engine import url as sa_url
        return sa_url.make_url(value).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL we can parse: scan it
        return text(value)


def _transport_url(value):
    import oslo_messaging as messaging
    parsed = messaging.TransportURL.parse(cfg.ConfigOpts(), value)
    for host in parsed.hosts:
        if host.password is not None:
            host.password = SECRET
    # TransportURL quotes the password it prints: '***' -> '%2A%2A%2A'.
    return str(parsed).replace('%2A%2A%2A', SECRET)


def text(message):
    """Free text with every URL's password and every ``password=`` value
    masked."""
    masked = _USERINFO.sub(
        lambda m: m.group('head') + (SECRET if m.group('password') else '')
        + m.group('at'), str(message))
    return strutils.mask_password(masked, secret=SECRET)


def escape(value, limit=None):
    """``value`` as one line of printable text, cut after ``limit``
    characters (the rest counted, not shown)."""
    value = str(value)
    if limit is not None and len(value) > limit:
        value = '%s...(%d more characters)' % (value[:limit],
                                               len(value) - limit)
    return _CONTROL.sub(_escape_char, value)


def _escape_char(match):
    char = match.group()
    return {'\n': '\\n', '\r': '\\r', '\t': '\\t'}.get(
        char, '\\x%02x' % ord(char) if ord(char) < 0x100
        else '\\u%04x' % ord(char))


def quote(value):
    """A caller's value in an error message: bounded and escaped."""
    return escape(value, QUOTE_LIMIT)
