"""schemathesis against ``/api/openapi.json`` of a live server, as admin and as operator.

Every operation gets a bounded number of generated requests for each role, and every
answer must be no server error and must match the document's schema for its status
(schemathesis' ``not_a_server_error`` and ``response_schema_conformance``).

The host runs in its own thread and trio loop, and schemathesis (synchronous, on
``requests``) calls it over loopback. The admin role runs what schemathesis
generates: random text, which is almost never valid Python and never reaches
anything outside this throwaway host; every request has a timeout, so nothing it
starts can hold the test. The event streams never end by themselves, so
``/api/events`` is left out and the output is asked for as JSON (``follow=false``);
``tests/http/test_output_sse.py`` and ``test_events_sse.py`` cover the streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.sse import threaded_http

from spe_host import Role
from spe_host.auth import FailureThrottle
from spe_host.http import HttpListening

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

pytestmark = pytest.mark.single_python

EXAMPLES = 25
STREAMS_ONLY = {"/api/events"}


@pytest.fixture(scope="module")
def server() -> Iterator[HttpListening]:
    """A host and its HTTP API in a thread of their own, for the module's tests."""
    # Fuzzed credentials fail by the hundred; the throttle (tested on its own) would
    # only make the test wait.
    with threaded_http(throttle=FailureThrottle(penalty=0, max_penalty=0)) as listening:
        yield listening


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
def test_every_answer_matches_the_document(server: HttpListening, role: Role) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json", timeout=10)
    headers = {"Authorization": f"Bearer {server.tokens.token(role)}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    tried = 0
    for operation in operations:
        if operation.path in STREAMS_ONLY:
            continue
        overrides: dict[str, Any] = {}
        if operation.path.endswith("/output"):
            overrides["query"] = {"follow": "false"}

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy(**overrides))
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers, timeout=10)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        check()
        tried += 1
    # Every operation but the event streams was fuzzed.
    assert tried == len(operations) - len(STREAMS_ONLY)
