"""A Python client generated from the published openapi.json by openapi-python-client, used
against a running server as its user would: the wallet lifecycle in typed models, and errors
as typed Problem objects (not None)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.api.test_keys_cli import portfolio
from tests.databases import ROOT
from tests.server import Uvicorn, running_uvicorn, server_env

pytestmark = pytest.mark.slow

PACKAGE = "portfolio_api_client"
ADDRESS = "0xd8da6bf26964aF9D7eEd9e03E53415D37aA96045".lower()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    where: Path = tmp_path_factory.mktemp("client")
    config = where / "config.yaml"
    config.write_text("post_hooks: []\n")  # the generator's formatting hooks: not needed
    made = subprocess.run(
        [str(Path(sys.executable).with_name("openapi-python-client")), "generate",
         "--path", str(ROOT / "openapi.json"), "--meta", "none",
         "--output-path", str(where / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    sys.path.insert(0, str(where))
    wallets = [f"api.wallets.wallets_{name}" for name in ("create", "list", "get", "delete")]
    names = ["client", "models", "types", *wallets]
    try:
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n.startswith(PACKAGE)]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Uvicorn, str]]:
    workdir: Path = tmp_path_factory.mktemp("served")
    env = server_env(workdir, auth_enabled="true")
    with running_uvicorn(env, workdir) as server:
        made = portfolio(env, "keys", "create", "--tenant", "generated", "--json")
        assert made.returncode == 0, made.stderr
        yield server, json.loads(made.stdout)["key"]


def test_a_generated_client_tracks_a_wallet_and_gets_typed_problems(
    generated: dict[str, ModuleType], served: tuple[Uvicorn, str]
) -> None:
    server, key = served
    models, api = generated["models"], generated
    client: Any = generated["client"].AuthenticatedClient(base_url=server.url, token=key)
    create, listing = api["api.wallets.wallets_create"], api["api.wallets.wallets_list"]
    get, delete = api["api.wallets.wallets_get"], api["api.wallets.wallets_delete"]
    with client:
        body = models.WalletCreate(chain="ethereum", address=ADDRESS, label="cold")
        created = create.sync_detailed(client=client, body=body)
        assert created.status_code == 201
        wallet = created.parsed
        assert isinstance(wallet, models.WalletOut)
        assert wallet.address == "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"  # EIP-55
        assert created.headers["location"] == f"/api/v1/wallets/{wallet.id}"

        page = listing.sync(client=client, limit=10)
        assert isinstance(page, models.WalletList)
        assert [w.id for w in page.items] == [wallet.id]
        got = get.sync(client=client, wallet_id=wallet.id)
        assert isinstance(got, models.WalletOut)
        assert got.label == "cold"

        duplicate = create.sync(client=client, body=body)
        assert isinstance(duplicate, models.Problem)
        assert (duplicate.status, duplicate.wallet_id) == (409, str(wallet.id))
        invalid = create.sync(
            client=client, body=models.WalletCreate(chain="solana", address="0xnope")
        )
        assert isinstance(invalid, models.Problem)
        assert invalid.status == 422
        assert [error.loc for error in invalid.errors] == [["body", "address"]]

        assert delete.sync_detailed(client=client, wallet_id=wallet.id).status_code == 204
        missing = get.sync(client=client, wallet_id=wallet.id)
        assert isinstance(missing, models.Problem)
        assert missing.status == 404
        assert missing.type_ == "/problems/wallet-not-found"

    anonymous: Any = generated["client"].Client(base_url=server.url)
    with anonymous:
        refused = listing.sync(client=anonymous)
        assert isinstance(refused, models.Problem)
        assert refused.status == 401
