"""Parameters checked against their JSON Schema, refused with a typed,
one-line error that quotes at most a short, escaped part of the value."""

import jsonschema
from jsonschema import exceptions as js_exc
from oslo_serialization import jsonutils

from move_orchestrator import exception
from move_orchestrator.service import schemas

MAX_BODY = 4096
QUOTE = 32


def quote(value):
    """A bounded, escaped rendering of what the caller sent."""
    text = repr(value)
    text = text.encode('ascii', 'backslashreplace').decode('ascii')
    return text if len(text) <= QUOTE else text[:QUOTE - 3] + '...'


_VALIDATORS = {}


def _validator(schema):
    found = _VALIDATORS.get(id(schema))
    if found is None or found[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        found = _VALIDATORS[id(schema)] = (schema, cls(schema))
    return found[1]


def _reason(error):
    """What is wrong, from the failed keyword, never the whole value."""
    kind, arg = error.validator, error.validator_value
    value = error.instance
    if kind == 'required':
        missing = [k for k in arg if k not in value]
        return '%s is required' % ', '.join(missing)
    if kind == 'additionalProperties':
        extra = sorted(k for k in value
                       if k not in error.schema.get('properties', {}))
        shown = ', '.join(quote(k) for k in extra[:3])
        more = ', ...' if len(extra) > 3 else ''
        return 'unknown key%s %s%s' % ('s' if len(extra) > 1 else '',
                                       shown, more)
    if kind == 'maxLength':
        return 'longer than %d characters' % arg
    if kind in ('minLength', 'pattern'):
        return 'must be a non-empty string'
    if kind == 'enum':
        return 'must be one of %s, not %s' % (', '.join(arg), quote(value))
    if kind in ('minimum', 'maximum'):
        low = error.schema.get('minimum')
        high = error.schema.get('maximum')
        if high is None:
            return 'must be at least %s, not %s' % (low, quote(value))
        return 'must be from %s to %s, not %s' % (low, high, quote(value))
    if kind == 'type':
        types = arg if isinstance(arg, list) else [arg]
        return 'must be %s, not %s' % (' or '.join(types), quote(value))
    return 'does not match its schema (%s)' % kind


def _name(error, default):
    path = [quote(p)[1:-1] if isinstance(p, str) else str(p)
            for p in error.absolute_path]
    return '.'.join(path) if path else default


def validate(name, params):
    """Raise InvalidMoveRequest (a move) or InvalidParameter (the rest)."""
    return validate_schema(schemas.PARAMS[name], params,
                           move=name == 'move_instance', default=name)


def validate_schema(schema, params, move=False, default='body'):
    """``params`` against ``schema``; a move's errors are
    InvalidMoveRequest, the others InvalidParameter."""
    if move:
        try:
            size = len(jsonutils.dumps(params))
        except (TypeError, ValueError):
            raise exception.InvalidMoveRequest(reason='payload is not JSON')
        if size > MAX_BODY:
            raise exception.InvalidMoveRequest(
                reason='payload of %d bytes is larger than %d'
                % (size, MAX_BODY))
    error = js_exc.best_match(_validator(schema).iter_errors(params))
    if error is None:
        return params
    if move:
        where = _name(error, None)
        reason = _reason(error)
        raise exception.InvalidMoveRequest(
            reason='%s %s' % (where, reason) if where else reason)
    raise exception.InvalidParameter(name=_name(error, default),
                                     reason=_reason(error))
