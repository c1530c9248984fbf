"""schemathesis against /v1/openapi.json: every operation, with data that
fits the schemas and data that does not; no answer is a 5xx, every answer
matches its schema, and no refused request writes anything (a snapshot of
every table before and after it)."""

from hypothesis import errors
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import schemathesis
from schemathesis import checks
from schemathesis import GenerationMode

from tests.db_fixtures import fresh_database
from tests.functional.api import harness

# Bounded so that the whole run takes about a minute on a busy machine.
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 10}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance,
          checks.response_schema_conformance,
          checks.negative_data_rejection]
CALLERS = [harness.ADMIN, harness.OWNER, harness.OTHER]


@pytest.fixture(scope='module')
def fuzzed(tmp_path_factory):
    """An API of its own: the fuzzer moves instances and sets hosts."""
    with fresh_database('sqlite',
                        tmp_dir=tmp_path_factory.mktemp('fuzz')) as url:
        server = harness.ApiServer(url)
        try:
            vm = server.boot(project_id='p-owner')
            location = server.move(vm['uuid'], host='host2').headers[
                'Location']
            task = server.wait(location)
            server.known = {'server_id': [vm['uuid']],
                            'task_id': [task['id']],
                            'host': ['host1', 'host2']}
            yield server
        finally:
            server.close()


def _operations(url):
    schema = schemathesis.openapi.from_url(url + '/v1/openapi.json')
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize('mode', list(EXAMPLES), ids=lambda m: m.value)
def test_every_operation_fuzzed(fuzzed, mode):
    operations = _operations(fuzzed.url)
    assert len(operations) == 16     # every route, and GET /
    fuzzed_ops = []
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _negatable(operation):
            continue     # nothing but free-form headers to get wrong
        try:
            _fuzz(fuzzed, operation, mode)
        except errors.Unsatisfiable:
            # schemathesis found no invalid value it can send for this
            # operation's parameters (it drops those a URL cannot carry).
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        fuzzed_ops.append(operation.label)
    assert len(fuzzed_ops) >= (16 if mode is GenerationMode.POSITIVE
                               else 10), fuzzed_ops


def _negatable(operation):
    return bool(list(operation.path_parameters) or list(operation.query)
                or list(operation.body))


def _fuzz(api, operation, mode):
    names = [p.name for p in operation.path_parameters]

    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode),
           real=st.fixed_dictionaries({n: st.none() | st.sampled_from(
               api.known[n]) for n in names}),
           who=st.sampled_from(CALLERS))
    def run(case, real, who):
        # Known identifiers too, so that requests reach the service.
        for name, value in real.items():
            if value is not None and mode is GenerationMode.POSITIVE:
                case.path_parameters[name] = value
        wait = (case.query or {}).get('wait')
        if isinstance(wait, (int, float)) and not isinstance(wait, bool) \
                and 0 < wait <= 30:
            case.query['wait'] = 0.05    # a long poll, but a short one
        api.settle()
        before = api.snapshot()
        resp = case.call(base_url=api.url, headers=who, timeout=30)
        case.validate_response(resp, checks=CHECKS)
        if resp.status_code >= 400:
            assert api.snapshot() == before, (case.method, case.path,
                                              resp.status_code)

    run()


def test_links_followed_from_post_to_the_task(fuzzed):
    """schemathesis's stateful run: a POST that is accepted, then the
    operations its OpenAPI links lead to, with the task it made."""
    vms = [fuzzed.boot(project_id='p-owner')['uuid'] for _ in range(12)]
    schema = schemathesis.openapi.from_url(fuzzed.url + '/v1/openapi.json')
    followed = []

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            if case.operation.label == 'POST /v1/servers/{server_id}/tasks':
                index = len(followed) % len(vms)
                case.path_parameters['server_id'] = vms[index]

        def get_call_kwargs(self, case):
            return {'base_url': fuzzed.url, 'headers': harness.ADMIN,
                    'timeout': 30}

        def after_call(self, response, case):
            followed.append((case.operation.label, response.status_code))

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS[:4])

    Workflow.run(settings=settings(
        max_examples=8, stateful_step_count=4, deadline=None,
        database=None, suppress_health_check=list(HealthCheck)))
    fuzzed.settle()
    labels = {label for label, status in followed if status < 400}
    assert 'POST /v1/servers/{server_id}/tasks' in labels
    assert labels - {'POST /v1/servers/{server_id}/tasks'}, followed
