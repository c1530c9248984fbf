"""Every typed error has a stable code and an HTTP status; bad input is
never a 5xx; the OpenAPI document is valid and covers every route."""

import inspect

import jsonschema
import pytest

from move_orchestrator.api import errors
from move_orchestrator.api import microversion
from move_orchestrator.api import openapi
from move_orchestrator.api import routes
from move_orchestrator import exception

ERRORS = [cls for _n, cls in inspect.getmembers(exception, inspect.isclass)
          if issubclass(cls, exception.MoveOrchestratorException)]


@pytest.mark.parametrize('cls', ERRORS, ids=lambda c: c.__name__)
def test_every_typed_error_is_mapped(cls):
    assert cls in errors.ERRORS, 'give %s a code and a status' % cls
    code, status = errors.code_and_status(cls.__new__(cls))
    assert code.startswith('moveorchestrator.')
    if issubclass(cls, (exception.Invalid, exception.NotFound,
                        exception.Conflict, exception.Forbidden)):
        assert 400 <= status < 500


def test_codes_are_unique():
    codes = [code for code, _status in errors.ERRORS.values()]
    assert len(codes) == len(set(codes))


def test_titles():
    assert errors.title(exception.InstanceBusy) == 'Instance busy'


@pytest.mark.parametrize('header,version', [
    (None, (1, 0)), ('move 1.0', (1, 0)), ('move latest', (1, 0)),
    ('compute 2.1', (1, 0)), ('compute 2.1, move 1.0', (1, 0))])
def test_microversion_parsed(header, version):
    assert microversion.parse(header) == version


@pytest.mark.parametrize('header,error', [
    ('move 1.1', microversion.NotAcceptable),
    ('move 2.0', microversion.NotAcceptable),
    ('move one', microversion.InvalidHeader),
    ('move 1.' + '0' * 500, microversion.InvalidHeader)])
def test_microversion_refused(header, error):
    with pytest.raises(error) as err:
        microversion.parse(header)
    assert len(str(err.value)) < 120


def test_openapi_document_is_valid_and_complete():
    doc = openapi.document()
    assert doc['openapi'] == '3.1.0'
    for item in doc['paths'].values():
        for op in item.values():
            schemas = [p['schema'] for p in op['parameters']]
            schemas += [c['schema'] for r in op['responses'].values()
                        for c in r.get('content', {}).values()]
            schemas += [c['schema'] for c in op.get(
                'requestBody', {}).get('content', {}).values()]
            for schema in schemas:
                jsonschema.Draft202012Validator.check_schema(schema)
    ops = {(m.upper(), p) for p, item in doc['paths'].items()
           for m in item}
    assert {(r.method, r.path) for r in routes.ROUTES} <= ops
    ids = [op['operationId'] for item in doc['paths'].values()
           for op in item.values()]
    assert len(ids) == len(set(ids))
