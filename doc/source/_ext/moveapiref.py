"""``.. move-api-reference::`` renders the API reference from the OpenAPI
document the API serves (move_orchestrator.api.openapi), and
``.. move-api-errors::`` the table of error codes, so that the docs cannot
drift from what is validated."""

import json

from docutils.parsers.rst import Directive
from docutils import statemachine

from move_orchestrator.api import errors
from move_orchestrator.api import openapi


def _indent(text, by='   '):
    return [by + line if line else '' for line in text.splitlines()]


class ApiReference(Directive):
    def run(self):
        doc = openapi.document()
        lines = []
        for path, item in doc['paths'].items():
            for method, op in item.items():
                title = '%s %s' % (method.upper(), path)
                lines += [title, '-' * len(title), '', op['summary'], '']
                if op.get('x-policy'):
                    lines += ['Policy: %s' % ', '.join(
                        '``%s``' % r for r in op['x-policy']), '']
                params = [p for p in op['parameters']
                          if p['in'] in ('path', 'query')]
                if params:
                    lines += ['Parameters:', '']
                    for p in params:
                        lines.append('* ``%s`` (%s): ``%s``' % (
                            p['name'], p['in'],
                            json.dumps(p['schema'], sort_keys=True)))
                    lines.append('')
                if 'requestBody' in op:
                    schema = op['requestBody']['content'][
                        'application/json']['schema']
                    lines += ['Request body schema:', '', '.. code-block:: '
                              'json', '']
                    lines += _indent(json.dumps(schema, indent=2,
                                                sort_keys=True))
                    lines.append('')
                status = [s for s in op['responses'] if s != 'default']
                lines += ['Success: %s; errors in the API-SIG format.'
                          % ', '.join(status), '']
        self.state_machine.insert_input(
            statemachine.StringList(lines, source='openapi'), 'openapi')
        return []


class ErrorCodes(Directive):
    def run(self):
        lines = ['.. list-table::', '   :header-rows: 1', '',
                 '   * - error', '     - code', '     - HTTP status']
        for cls, (code, status) in sorted(errors.ERRORS.items(),
                                          key=lambda i: i[1]):
            lines += ['   * - ``%s``' % cls.__name__,
                      '     - ``%s%s``' % (errors.PREFIX, code),
                      '     - %d' % status]
        self.state_machine.insert_input(
            statemachine.StringList(lines, source='errors'), 'errors')
        return []


def setup(app):
    app.add_directive('move-api-reference', ApiReference)
    app.add_directive('move-api-errors', ErrorCodes)
    return {'parallel_read_safe': True}
