"""Property-based run of schemathesis against ``/openapi.json``: generated requests, valid and invalid, for every
operation, bounded in examples. It must find no 500 and no response that breaks the published schema (status
codes, content types, bodies). Over a fake embedder and a scripted generator, so hundreds of calls take seconds;
what is tested is the API's contract, not the answers."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from tests.conftest import copy_seeds  # noqa: E402
from tests.fakes import HashingEmbedder, scripted_pipeline  # noqa: E402
from tests.test_api import reply  # noqa: E402
from ui.server import build_server  # noqa: E402

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    pipeline = scripted_pipeline(root / "idx", copy_seeds(root / "seeds"), HashingEmbedder(), reply, upload_max_mb=1.0)
    return schemathesis.openapi.from_asgi("/openapi.json", build_server(pipeline))


def test_api_keeps_its_schema(api_schema):
    """Every operation, with generated valid requests and then generated invalid ones (schemathesis' positive and
    negative modes), through every default check but one: a schema-valid request can still be refused with a 4xx
    for what only the index knows (a filter naming no document, an empty question), and every such refusal must
    itself be a declared status with the declared error body."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import positive_data_acceptance

    calls: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                check()
            except Unsatisfiable:  # an operation without parameters or body has no invalid input to generate
                assert mode is GenerationMode.NEGATIVE
    assert len(calls) == 8, calls  # every operation was exercised
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations, no failure")
