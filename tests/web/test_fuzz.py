"""Schemathesis against the server's OpenAPI description: whatever it sends, within or outside the
schema, no operation answers a server error (500)."""

from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from micromarket.web.app import create_app

from web_fixtures import with_access

#: Cases per operation, the same on every run (a failure in CI can be repeated); MICROMARKET_FUZZ_RANDOM=1
#: draws new ones, MICROMARKET_FUZZ_EXAMPLES=N more of them.
EXAMPLES = int(os.environ.get("MICROMARKET_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, chain_copy_source):
    root = tmp_path_factory.mktemp("fuzz") / "ws"
    shutil.copytree(chain_copy_source, root)
    tokens = with_access(root)
    app = create_app(root, release_after=0.5, wait_seconds=30)
    return app, tokens


def test_no_operation_answers_a_server_error(fuzzed):
    from fastapi.testclient import TestClient

    app, tokens = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, calls = [], []
    with TestClient(app, base_url="http://127.0.0.1"):  # runs the lifespan: the event journal's loader
        for result in schema.get_all_operations():
            operation = result.ok()
            role = operation.definition.raw.get("x-role", "public")
            headers = {} if role == "public" else {"Authorization": f"Bearer {tokens['events' if role == 'events' else 'admin']}"}

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=os.environ.get("MICROMARKET_FUZZ_RANDOM") is None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case):
                calls.append(operation.path)
                response = case.call(headers=headers)
                try:
                    case.validate_response(response, checks=(not_a_server_error,))
                except AssertionError as exc:
                    failures.append(f"{operation.method.upper()} {operation.path}: {exc}")

            check()
    assert not failures, "\n".join(failures[:10])
    assert len(set(calls)) == len(app.openapi()["paths"]) and len(calls) > 200  # every operation, many cases
