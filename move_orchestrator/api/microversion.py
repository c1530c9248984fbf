"""The ``OpenStack-API-Version: move X.Y`` header (API-SIG microversions).

A request without it gets the oldest version; ``latest`` the newest. The
answer always says which version served it.
"""

import re

SERVICE = 'move'
HEADER = 'OpenStack-API-Version'
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 0)
_VERSION = re.compile(r'^([1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$')


class InvalidHeader(ValueError):
    pass


class NotAcceptable(ValueError):
    pass


def text(version):
    return '%d.%d' % version


def parse(header):
    """The version a request asks for."""
    if not header:
        return MIN_VERSION
    for part in header.split(','):
        words = part.split()
        if len(words) == 2 and words[0].lower() == SERVICE:
            value = words[1]
            break
    else:
        return MIN_VERSION     # a header for other services only
    if value.lower() == 'latest':
        return MAX_VERSION
    match = _VERSION.match(value)
    if match is None:
        raise InvalidHeader('%s must be "%s X.Y" or "%s latest"'
                            % (HEADER, SERVICE, SERVICE))
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable('version %s is not supported: from %s to %s'
                            % (text(version), text(MIN_VERSION),
                               text(MAX_VERSION)))
    return version
