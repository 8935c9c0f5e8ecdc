"""Settings fail fast and plainly; .env.example stays equal to the settings class."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from portfolio.config import Settings, env_example
from tests.databases import ROOT
from tests.server import server_env


def test_env_example_lists_every_setting_with_its_default_and_meaning() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), (
        "run: python -c "
        + repr("from portfolio.config import env_example; print(env_example(), end='')")
        + " > .env.example"
    )
    names = {line.split("=", 1)[0] for line in env_example().splitlines() if "=" in line}
    assert names == {f"PORTFOLIO_{name.upper()}" for name in Settings.model_fields}


def test_env_example_copied_to_env_gives_the_defaults() -> None:
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example == Settings(_env_file=None)


def test_the_log_level_is_read_in_any_case() -> None:
    lower: Any = "debug"  # the settings class's type says capitals; the environment may not
    assert Settings(_env_file=None, log_level=lower).log_level == "DEBUG"


def test_currency_settings_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTFOLIO_DEFAULT_CURRENCY", "eur")
    monkeypatch.setenv("PORTFOLIO_CURRENCY_RATES", "eur=0.92, jpy=151.5,")
    settings = Settings(_env_file=None)
    assert settings.default_currency == "EUR"
    assert settings.currency_rates == {"EUR": Decimal("0.92"), "JPY": Decimal("151.5")}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ETHEREUM_RPC_URLS", "not-a-url"),
        ("SOLANA_RPC_URLS", "https://ok.example.com,ftp://user:KEY123@host/x"),
        ("DATABASE_URL", "mysql://db/portfolio"),
        ("REDIS_URL", "localhost:6379"),
        ("LOG_LEVEL", "loud"),
        ("RPC_TIMEOUT_SECONDS", "-1"),
        ("DEFAULT_CURRENCY", "XYZ"),
        ("CURRENCY_RATES", "EUR=-0.9"),
        ("CURRENCY_RATES", "DOGE=1"),
        ("CURRENCY_RATES", "EUR=lots"),
    ],
)
def test_a_bad_value_stops_the_server_with_one_line_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    env = server_env(tmp_path, **{name.lower(): value})
    finished = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "portfolio.main.app:create_app",
         "--port", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"portfolio: PORTFOLIO_{name}: ")
    assert "Traceback" not in finished.stderr
    assert "KEY123" not in finished.stderr  # a URL's secret is not echoed back


def test_evm_chains_are_ethereum_the_presets_with_nodes_and_the_chains_file(
    tmp_path: Path,
) -> None:
    chains_file = tmp_path / "chains.json"
    chains_file.write_text(
        '{"chains": [{"name": "gnosis", "chain_id": 100, "rpc_urls": ["https://g.example"],'
        ' "native_symbol": "XDAI", "native_name": "xDAI"},'
        ' {"name": "base", "chain_id": 84532, "rpc_urls": ["https://sepolia.example"],'
        ' "native_symbol": "ETH", "native_name": "Sepolia Ether"}]}'
    )
    settings = Settings(
        _env_file=None,
        arbitrum_rpc_urls="https://arb.example",  # type: ignore[arg-type]
        optimism_token_list="/nowhere.json",  # noqa: S106 - a list alone turns no chain on
        evm_chains_file=str(chains_file),
    )
    chains = {chain.name: chain for chain in settings.evm_chains()}
    assert list(chains) == ["ethereum", "base", "arbitrum", "gnosis"]
    assert (chains["ethereum"].chain_id, chains["arbitrum"].chain_id) == (1, 42161)
    assert chains["arbitrum"].coingecko_platform == "arbitrum-one"
    assert chains["base"].chain_id == 84532  # the file redefines the preset
    assert chains["gnosis"].native_decimals == 18


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('{"chains": [{"name": "solana", "chain_id": 1, "native_symbol": "S", '
         '"native_name": "S"}]}', "not an EVM chain"),
        ('{"chains": [{"name": "x", "chain_id": 1, "native_symbol": "X", "native_name": "X", '
         '"rpc_urls": ["ftp://h/KEY123"]}]}', "not an http(s) URL"),
        ('{"chains": {}}', "a list named chains"),
        ("[[chains]\nname = ", "chains.toml"),
    ],
)  # fmt: skip
def test_a_bad_chains_file_stops_the_server_with_one_line(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "chains.toml"
    path.write_text(content if content.startswith("[[") else "")
    if not content.startswith("[["):
        path = tmp_path / "chains.json"
        path.write_text(content)
    env = server_env(tmp_path, evm_chains_file=str(path))
    finished = subprocess.run(
        [sys.executable, "-m", "portfolio.main.cli", "wallets", "list"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("portfolio: PORTFOLIO_EVM_CHAINS_FILE: ")
    assert complaint in lines[0]
    assert "KEY123" not in finished.stderr


def test_secrets_are_read_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PORTFOLIO_<NAME>_FILE names a file holding the setting, PORTFOLIO_SECRETS_DIR a folder of
    files named after settings; a value set outright wins, then a _FILE variable, then the
    folder; values are parsed as from the environment, without the file's line break; a
    setting that is itself a path (the chains file) is not read as a secret."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "PORTFOLIO_DATABASE_URL").write_text("postgresql+asyncpg://u:folder@db/x\n")
    (folder / "portfolio_metrics_token").write_text("from-the-folder")
    (folder / "PORTFOLIO_COINGECKO_API_KEY").write_text("loses-to-the-file-variable")
    (tmp_path / "key").write_text("gecko-key\r\n")
    (tmp_path / "urls").write_text("http://127.0.0.1:1/a,http://127.0.0.1:2/b\n")
    chains = tmp_path / "chains.toml"
    chains.write_text("chains = []\n")
    for name in [n for n in os.environ if n.startswith("PORTFOLIO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PORTFOLIO_SECRETS_DIR", str(folder))
    monkeypatch.setenv("PORTFOLIO_COINGECKO_API_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("PORTFOLIO_ETHEREUM_RPC_URLS_FILE", str(tmp_path / "urls"))
    monkeypatch.setenv("PORTFOLIO_EVM_CHAINS_FILE", str(chains))
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql+asyncpg://u:folder@db/x"
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "from-the-folder"
    assert settings.coingecko_api_key is not None
    assert settings.coingecko_api_key.get_secret_value() == "gecko-key"
    assert settings.ethereum_rpc_urls == ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]
    assert settings.evm_chains_file == str(chains)
    monkeypatch.setenv("PORTFOLIO_DATABASE_URL", "sqlite+aiosqlite:///outright.db")
    assert Settings(_env_file=None).database_url == "sqlite+aiosqlite:///outright.db"


@pytest.mark.parametrize(
    ("variable", "made"),
    [("PORTFOLIO_DATABASE_URL_FILE", None), ("PORTFOLIO_DATABASE_URL_FILE", b"\xff\xfe"),
     ("PORTFOLIO_DATABASE_URL_FILE", b"x" * 70_000), ("PORTFOLIO_SECRETS_DIR", None)],
)  # fmt: skip
def test_a_secret_file_that_cannot_be_read_stops_with_one_line(
    tmp_path: Path, variable: str, made: bytes | None
) -> None:
    path = tmp_path / "secret"
    if made is not None:
        path.write_bytes(made)
    env = server_env(tmp_path, **{variable.removeprefix("PORTFOLIO_").lower(): str(path)})
    del env["PORTFOLIO_DATABASE_URL"]
    finished = subprocess.run(
        [sys.executable, "-m", "portfolio.main.cli", "doctor"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.count("\n") == 1, finished.stderr
    assert finished.stderr.startswith(f"portfolio: {variable}: {path}"), finished.stderr
