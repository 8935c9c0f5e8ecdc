"""schemathesis against the service's own OpenAPI document, on a real uvicorn with API keys
on: every operation, a few hundred generated cases each and the stateful sequences its links
allow, with every check schemathesis has: no 5xx, answers that conform to the schema (status,
media type, body, headers), routes that refuse what the schema refuses and what has no key.

One check is run on its own: ``positive_data_acceptance`` (schema-valid input must be
accepted). The schema says what a schema can (address patterns, the chain name pattern, not
both chain and chains); what it cannot is a 422 that names the rule, and only those rules may
refuse schema-valid input: the address form of the chain named beside it, an EIP-55 checksum,
base58 that decodes to 32 bytes, a chain this server is configured for, one of chain and chains
given, start before end and the points that gives (and a window within years 1 to 9999), a
label's control characters, cursors this service issued.

schemathesis's pytest plugin does not load under this pytest, so its operations are driven
here with their hypothesis strategies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.api.test_keys_cli import portfolio
from tests.server import Uvicorn, running_uvicorn, server_env

Case = Any  # schemathesis.Case, whose type parameters are its own business

pytestmark = pytest.mark.slow

CASES = 200  # per operation
# The rules the schema cannot say, as the 422s that name them.
UNSAYABLE = re.compile(
    "|".join([
        r"An EVM address is 0x followed by 40 hexadecimal digits\.",
        r"A Solana address is 32 to 44 base58 characters\.",
        r"Mixed-case EVM address with a wrong EIP-55 checksum",
        r"A Solana address decodes to 32 bytes",
        r"is not a configured chain",
        r"Field required: give chain \(or chains, a list\)\.",
        r"start must be before end\.",
        r"At most \d+ points a request",
        r"Not a cursor this service issued\.",
        # a time in year 1 or 9999 whose offset takes it outside them in UTC
        r"A time outside the years 1 to 9999 \(UTC\)\.",
        r"The default window \(\d+ days before end\) starts before year 1\.",  # end near year 1
        r"The window reaches past the representable dates",  # a window ending past year 9999
        r"A label may not contain control characters\.",  # more than a pattern can say well
        r"No [A-Z]{3} rate was recorded by",  # depends on the rates recorded by then
        # where a webhook may send depends on the settings and on what a name resolves to
        r"A webhook URL (must|may not)", r"The URL's address is", r"Not a valid URL",
    ])
)  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Uvicorn, dict[str, str]]]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    env = server_env(workdir, auth_enabled="true")
    with running_uvicorn(env, workdir) as server:
        made = portfolio(env, "keys", "create", "--tenant", "fuzz", "--json")
        assert made.returncode == 0, made.stderr
        yield server, {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}


def _schema(server: Uvicorn) -> Any:
    """The published schema, less the event stream: its answer never ends, which a fuzzer
    cannot wait out (tests/api/test_event_streams.py drives it with stream clients)."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return schema.exclude(operation_id="events-stream")


def test_every_operation_holds_under_generated_input(
    served: tuple[Uvicorn, dict[str, str]],
) -> None:
    server, auth = served
    schema = _schema(server)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=CASES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Case) -> None:
            case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

        try:
            exercise()
        except BaseException as exc:
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert server.alive()
    # The generated cases got past the key: they were answered, not only refused.
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'handler="/api/v1/wallets",method="GET",status="2xx"' in metrics


def test_sequences_of_calls_along_the_links_hold(served: tuple[Uvicorn, dict[str, str]]) -> None:
    """Wallets made, then read, fetched, listed and deleted through what the answers link to
    (the Location header and the ids they carry)."""
    server, auth = served
    schema = _schema(server)
    machine = schema.as_state_machine()

    class Authenticated(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, object]:
            return {"headers": auth}

        def validate_response(self, response: Any, case: Case, **kwargs: Any) -> None:
            case.validate_response(response, excluded_checks=[positive_data_acceptance], **kwargs)

    Authenticated.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert server.alive()


def test_schema_valid_input_is_refused_only_by_rules_the_schema_cannot_say(
    served: tuple[Uvicorn, dict[str, str]],
) -> None:
    server, auth = served
    schema = _schema(server)
    refused: dict[str, set[str]] = {}
    for operation in [result.ok() for result in schema.get_all_operations()]:
        _positive(operation, auth, refused.setdefault(operation.label, set()))()
    assert {label: details for label, details in refused.items() if details} == {}
    assert server.alive()


def _positive(operation: Any, auth: dict[str, str], refused: set[str]) -> Any:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=CASES // 2, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def exercise(case: Case) -> None:
        response = case.call(headers=auth)
        if response.status_code == 422:
            detail = response.json()["detail"]
            if not UNSAYABLE.search(detail):
                refused.add(detail)
        else:  # accepted, or a wallet or batch that is not there, or no chain node to read
            assert response.status_code in (200, 201, 202, 204, 304, 404, 409, 503, 504), (
                f"{operation.label}: {response.status_code} {response.text[:300]}"
            )

    return exercise
