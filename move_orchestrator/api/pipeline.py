"""The middleware in front of the application, outermost first:
request_id, cors, http_proxy_to_wsgi, the request body size limit,
healthcheck (answers before authentication, as load balancers need),
then keystonemiddleware's auth_token ([api] auth_strategy = keystone) or
nothing (noauth: the caller is read from X-User-Id, X-Project-Id and
X-Roles by the application, as Nova's noauth does)."""

from oslo_middleware import cors
from oslo_middleware import healthcheck
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import request_id
from oslo_middleware import sizelimit

from move_orchestrator.api import app as api_app
from move_orchestrator.api import microversion

ALLOW_HEADERS = ['X-Auth-Token', 'X-OpenStack-Request-ID', 'X-User-Id',
                 'X-Project-Id', 'X-Roles', microversion.HEADER,
                 api_app.IDEMPOTENCY_KEY]
EXPOSE_HEADERS = ['X-OpenStack-Request-ID', microversion.HEADER,
                  'Location']


def set_cors_defaults():
    cors.set_defaults(allow_headers=ALLOW_HEADERS,
                      expose_headers=EXPOSE_HEADERS,
                      allow_methods=['GET', 'PUT', 'POST'])


HEALTHCHECK_PATH = '/healthcheck'


class _Healthcheck:
    """oslo.middleware's healthcheck at /healthcheck (it answers every
    request it is given, as Nova's urlmap mounts it); the rest goes on."""

    def __init__(self, app, conf):
        self.app = app
        self.check = healthcheck.Healthcheck(None, conf)

    def __call__(self, environ, start_response):
        if environ.get('PATH_INFO', '').rstrip('/') == HEALTHCHECK_PATH:
            return self.check(environ, start_response)
        return self.app(environ, start_response)


def build(conf, service):
    """The WSGI callable: the application behind its middleware."""
    app = api_app.MoveAPI(service, conf)
    if conf.api.auth_strategy == 'keystone':
        from keystonemiddleware import auth_token
        # auth_token reads its own options, [keystone_authtoken].
        app = auth_token.AuthProtocol(app, {'oslo_config_config': conf})
    app = _Healthcheck(app, conf)
    app = sizelimit.RequestBodySizeLimiter(app, conf)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    set_cors_defaults()
    app = cors.CORS(app, conf)
    return request_id.RequestId(app, conf)
