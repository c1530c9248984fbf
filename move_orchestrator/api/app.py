"""The WSGI application: routing, parameters, microversions, errors; and
the pipeline of middleware in front of it (``build``)."""

from urllib import parse

from oslo_log import log as logging
from oslo_serialization import jsonutils
import routes
import webob

from move_orchestrator.api import errors
from move_orchestrator.api import microversion
from move_orchestrator.api import openapi
from move_orchestrator.api import routes as api_routes
from move_orchestrator.api import schemas
from move_orchestrator import context as mo_context
from move_orchestrator import exception
from move_orchestrator.service import schemas as svc_schemas
from move_orchestrator.service import validation

LOG = logging.getLogger(__name__)
IDEMPOTENCY_KEY = 'Idempotency-Key'
META = {'/': 'versions', '/v1/openapi.json': 'openapi'}


def _mapper(with_method):
    mapper = routes.Mapper()
    for i, route in enumerate(api_routes.ROUTES):
        conditions = {'method': [route.method]} if with_method else None
        mapper.connect(route.path, index=i, conditions=conditions)
    return mapper


class MoveAPI:
    """The application: a request in, the service called, JSON out."""

    def __init__(self, service, conf):
        self.service = service
        self.conf = conf
        self._routes = _mapper(True)
        self._paths = _mapper(False)

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        request_id = environ.get('openstack.request_id')
        try:
            version = microversion.parse(req.headers.get(microversion.HEADER))
            resp = self._dispatch(req)
        except microversion.InvalidHeader as e:
            resp, version = errors.http_error(
                request_id, errors.BAD_VERSION_HEADER, str(e)), None
        except microversion.NotAcceptable as e:
            resp, version = errors.http_error(
                request_id, errors.BAD_VERSION, str(e)), None
        except exception.MoveOrchestratorException as e:
            resp = errors.from_exception(request_id, e)
        except _HTTPError as e:
            resp = errors.http_error(request_id, e.kind, e.detail, e.headers)
        except Exception:
            LOG.exception('Request %s %s failed', req.method, req.path)
            resp = errors.http_error(request_id, errors.INTERNAL,
                                     'The server failed to answer; the '
                                     'request id is in its log.')
        resp.headers[microversion.HEADER] = '%s %s' % (
            microversion.SERVICE, microversion.text(
                version or microversion.MIN_VERSION))
        resp.headers['Vary'] = microversion.HEADER
        return resp(environ, start_response)

    # -- routing -------------------------------------------------------------
    def _dispatch(self, req):
        path = req.path_info.rstrip('/') or '/'
        if path in META:
            if req.method not in ('GET', 'HEAD'):
                raise _HTTPError(errors.BAD_METHOD, '%s allows GET only'
                                 % path, {'Allow': 'GET'})
            return _json(200, getattr(self, META[path])(req))
        match = self._routes.match(path, environ=req.environ)
        if match is None:
            if self._paths.match(path) is not None:
                allowed = sorted({r.method for r in api_routes.ROUTES
                                  if _same(self._paths, r.path, path)})
                raise _HTTPError(errors.BAD_METHOD, '%s allows %s' % (
                    path, ', '.join(allowed)), {'Allow': ', '.join(allowed)})
            raise _HTTPError(errors.NO_ROUTE, 'no resource at %s'
                             % validation.quote(path))
        route = api_routes.ROUTES[int(match.pop('index'))]
        return self._call(req, route, match)

    def _call(self, req, route, path_args):
        ctxt = mo_context.RequestContext.from_environ(req.environ,
                                                      auth_token=None)
        params = {api_routes.PATH_PARAMS[k]: v for k, v in path_args.items()}
        params.update(self._query(req, route))
        operation = route.operations[0]
        if route.body is not None:
            body = _body(req)
            if route.operations[0] == 'move_instance':
                _validate_body(route.body, body, move=True)
                params.update(self._move_params(req, body['move']))
            elif operation == 'drain_host':
                _validate_body(route.body, body)
                params.update(body['drain'])
            elif route.operations == api_routes.ACTION_OPS:
                _validate_body(route.body, body)
                operation = schemas.ACTION_OPERATIONS[next(iter(body))]
            else:
                _validate_body(route.body, body)
                params['state'] = body['host']['state']
        if operation == 'list_tasks' and params.get('limit') is None:
            params['limit'] = self.conf.api.max_limit
        result = getattr(self.service, operation)(ctxt, **params)
        answer = {route.envelope: result}
        headers = {}
        if operation == 'move_instance':
            headers['Location'] = req.host_url + '%s/%s' % (
                req.path_info.rstrip('/'), result['id'])
        elif operation == 'drain_host':
            headers['Location'] = req.host_url + '/v1/tasks/%s' % (
                result['id'])
        if operation == 'list_tasks':
            answer['tasks_links'] = _next_link(req, params['limit'], result)
        return _json(route.status, answer, headers)

    def _query(self, req, route):
        """Query parameters, typed as the operation's schema says."""
        props = svc_schemas.PARAMS[route.operations[0]]['properties']
        found = {}
        for name, value in req.GET.items():
            if name not in route.query:
                raise exception.InvalidParameter(
                    name=validation.quote(name)[1:-1][:64],
                    reason='unknown query parameter')
            if name in found:
                raise exception.InvalidParameter(name=name,
                                                 reason='given twice')
            found[name] = _typed(name, value, props[name])
        return found

    def _move_params(self, req, move):
        params = {'destination': move.get('host'),
                  'flavor': move.get('flavor'), 'live': move.get('live')}
        key = req.headers.get(IDEMPOTENCY_KEY)
        if key is not None:
            params['request_id'] = key
        return params

    # -- meta ------------------------------------------------------------------
    def versions(self, req):
        return {'versions': [{
            'id': 'v1.0', 'status': 'CURRENT',
            'min_version': microversion.text(microversion.MIN_VERSION),
            'max_version': microversion.text(microversion.MAX_VERSION),
            'links': [{'rel': 'self', 'href': req.host_url + '/v1/'},
                      {'rel': 'describedby',
                       'href': req.host_url + '/v1/openapi.json'}]}]}

    def openapi(self, req):
        return openapi.document()


class _HTTPError(Exception):
    def __init__(self, kind, detail, headers=None):
        super().__init__(detail)
        self.kind, self.detail, self.headers = kind, detail, headers


def _same(mapper, template, path):
    found = mapper.match(path)
    return found is not None and \
        api_routes.ROUTES[int(found['index'])].path == template


def _typed(name, value, schema):
    types = schema.get('type')
    types = types if isinstance(types, list) else [types]
    try:
        if 'integer' in types:
            return int(value)
        if 'number' in types:
            return float(value)
    except ValueError:
        raise exception.InvalidParameter(
            name=name, reason='must be %s, not %s' % (
                ' or '.join(t for t in types if t != 'null'),
                validation.quote(value)))
    return value


def _body(req):
    if req.content_type != 'application/json':
        raise _HTTPError(errors.UNSUPPORTED_MEDIA,
                         'the body must be application/json')
    try:
        return jsonutils.loads(req.body)
    except ValueError as e:
        raise _HTTPError(errors.MALFORMED_BODY,
                         'the body is not JSON: %s' % validation.quote(
                             str(e))[1:-1])


def _validate_body(schema, body, move=False):
    validation.validate_schema(schema, body, move=move)


def _next_link(req, limit, page):
    if len(page) < limit:
        return []
    query = dict(req.GET, limit=str(limit), marker=page[-1]['id'])
    return [{'rel': 'next', 'href': '%s%s?%s' % (
        req.host_url, req.path_info, parse.urlencode(sorted(query.items())))}]


def _json(status, body, headers=None):
    resp = webob.Response(status=status, content_type='application/json',
                          charset='UTF-8')
    resp.text = jsonutils.dumps(body)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp
