"""docker-compose.yml against the Compose Specification's JSON schema, offline.

``compose-spec.json`` beside this file is that schema (from the Compose Specification project,
Apache-2.0), kept here so that the check needs no network."""

from __future__ import annotations

import json
import os
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.databases import ROOT

SCHEMA = Path(__file__).with_name("compose-spec.json")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_the_compose_file_follows_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(_compose())]
    assert errors == []


def test_the_compose_file_runs_two_api_replicas_behind_nginx_after_one_migration() -> None:
    services = _compose()["services"]
    assert {"migrate", "api", "worker", "scheduler", "nginx", "postgres", "redis"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "scheduler"):
        wait = services[name]["depends_on"]["migrate"]["condition"]
        assert wait == "service_completed_successfully", name
    assert services["worker"]["command"] == ["portfolio", "worker"]
    assert services["scheduler"]["command"] == ["portfolio", "scheduler"]
    nginx_conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server api:8000" in nginx_conf
    assert services["nginx"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]


def test_a_compose_file_with_an_unknown_key_is_refused() -> None:
    compose = _compose()
    compose["services"]["api"]["replica"] = 2
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(compose)


def test_forwarded_addresses_are_believed_from_nginx_alone_and_keys_are_required() -> None:
    compose = _compose()
    services = compose["services"]
    nginx = services["nginx"]["networks"]["default"]["ipv4_address"]
    api = services["api"]["environment"]
    assert api["PORTFOLIO_FORWARDED_ALLOW_IPS"] == nginx
    assert api["PORTFOLIO_TRUSTED_PROXIES"] == nginx
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ip_address(nginx) in ip_network(subnet)
    assert api["PORTFOLIO_AUTH_ENABLED"] == "${PORTFOLIO_AUTH_ENABLED:-true}"
    first = services["first-key"]
    assert first["command"][:3] == ["portfolio", "keys", "create"]
    assert "--first" in first["command"]
    assert first["restart"] == "no"
    assert first["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


PORTFOLIO_SERVICES = ("migrate", "first-key", "api", "worker", "scheduler")


def test_each_service_checks_its_own_health_and_takes_every_setting_of_env() -> None:
    """The image's health check asks the API's port: the worker and the scheduler ask their
    metrics port instead (which they serve), the one-shots none; every PORTFOLIO_* of .env
    reaches each service (env_file), the file being optional."""
    services = _compose()["services"]
    for name in PORTFOLIO_SERVICES:
        service = services[name]
        assert service["env_file"] == [{"path": ".env", "required": False}], name
        check = service["healthcheck"]
        if name in ("migrate", "first-key"):
            assert check == {"disable": True}, name
            continue
        probe = " ".join(check["test"])
        if name == "api":
            assert "127.0.0.1:8000/api/v1/health/live" in probe
        else:
            assert "127.0.0.1:9000/metrics" in probe, name
            assert service["environment"]["PORTFOLIO_WORKER_METRICS_PORT"] == "9000", name
            assert service["environment"]["PORTFOLIO_WORKER_METRICS_HOST"] == "0.0.0.0", name


def test_secrets_reach_the_services_as_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database URL is a Compose secret read through PORTFOLIO_DATABASE_URL_FILE (its file
    holds a URL the settings take), and ./secrets is the services' PORTFOLIO_SECRETS_DIR; no
    URL or key is written in the Compose file's environment."""
    compose = _compose()
    for name in PORTFOLIO_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert not {"PORTFOLIO_DATABASE_URL", "PORTFOLIO_ETHEREUM_RPC_URLS",
                    "PORTFOLIO_SOLANA_RPC_URLS"} & set(environment), name  # fmt: skip
        assert environment["PORTFOLIO_DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert service["secrets"] == ["database_url"]
        assert environment["PORTFOLIO_SECRETS_DIR"] == "/run/secrets/portfolio"
        assert "./secrets:/run/secrets/portfolio:ro" in service["volumes"]
    source = ROOT / compose["secrets"]["database_url"]["file"]
    assert (ROOT / "secrets" / "README.md").is_file()
    from portfolio.config import Settings

    for variable in [v for v in os.environ if v.startswith("PORTFOLIO_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("PORTFOLIO_DATABASE_URL_FILE", str(source))
    url = Settings(_env_file=None).database_url
    assert url == "postgresql+asyncpg://portfolio:portfolio@postgres:5432/portfolio"
