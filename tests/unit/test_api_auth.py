"""[api] auth_strategy = keystone puts auth_token in front: no token, no
answer (whatever X-Roles says); /healthcheck still answers."""

from keystonemiddleware.auth_token import _opts as auth_opts
from oslo_config import cfg
import webob

from move_orchestrator.api import pipeline
from move_orchestrator import conf as mo_conf


def _conf(strategy):
    conf = cfg.ConfigOpts()
    mo_conf.register_all(conf)
    conf([], project='move-orchestrator')
    conf.set_override('auth_strategy', strategy, 'api')
    return conf


class _Nobody:
    """A service the requests must never reach."""

    def __getattr__(self, name):
        raise AssertionError('reached the service: %s' % name)


def test_keystone_refuses_requests_without_a_token():
    conf = _conf('keystone')
    for group, opts in auth_opts.list_opts():
        conf.register_opts(opts, group=group)
    # Where a client gets a token (no Keystone is asked: none runs here).
    conf.set_override('www_authenticate_uri', 'http://keystone.invalid:5000',
                      'keystone_authtoken')
    app = pipeline.build(conf, _Nobody())
    req = webob.Request.blank('/v1/tasks', headers={
        'X-Roles': 'admin', 'X-Project-Id': 'admin', 'X-User-Id': 'a'})
    resp = req.get_response(app)
    assert resp.status_int == 401
    assert resp.headers['x-openstack-request-id'].startswith('req-')
    health = webob.Request.blank('/healthcheck').get_response(app)
    assert health.status_int == 200


def test_noauth_reads_the_caller_from_headers():
    app = pipeline.build(_conf('noauth'), _Nobody())
    resp = webob.Request.blank('/').get_response(app)
    assert resp.status_int == 200
    assert resp.headers['OpenStack-API-Version'] == 'move 1.0'
