"""Property test over the OpenAPI schema (schemathesis): whatever a client sends, never a 5xx.

schemathesis generates requests from /openapi.json, valid ones and broken ones
(wrong types, missing fields, odd headers, unexpected methods), for every
operation except ``GET /events``, an endless stream by design (its bad input
is covered in test_api_rest.py). The broker is real (the embedded one); no worker
runs, so submitted jobs simply wait. (It found that RQ refuses job ids with
``.`` or ``:``, which the first id pattern allowed.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from labs.api import create_app

# the app connects lazily, so it can be made now and meet the test's broker (REDIS_URL) on the first request
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app()).exclude(path="/events")


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_the_api_fail(case, broker: str) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
