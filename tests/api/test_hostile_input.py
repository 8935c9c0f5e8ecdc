"""Hostile input aimed at the wallet routes: control and bidi characters, SQL-looking strings,
huge numbers, forged ids. Each is a clear 4xx (or stored as plain text), and stored data is
untouched."""

from __future__ import annotations

import httpx
import pytest

ADDRESS = "0x" + "ef" * 20
WALLETS = "/api/v1/wallets"


@pytest.mark.parametrize(
    "label",
    [
        "right\u202eto-left",  # RIGHT-TO-LEFT OVERRIDE: reverses what a reader sees
        "zero\u200bwidth",
        "bell\x07",
        "line\nbreak",
        "nul\x00byte",
    ],
)
async def test_control_and_bidi_characters_in_a_label_are_422(
    client: httpx.AsyncClient, label: str
) -> None:
    response = await client.post(WALLETS, json={"chain": "ethereum", "address": ADDRESS,
                                                "label": label})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "label"]
    assert (await client.get(WALLETS)).json()["items"] == []


async def test_sql_looking_strings_are_text(client: httpx.AsyncClient) -> None:
    label = "'; DROP TABLE wallets; --"
    created = await client.post(
        WALLETS, json={"chain": "ethereum", "address": ADDRESS, "label": label}
    )
    assert created.status_code == 201
    assert created.json()["label"] == label
    for address in ("' OR '1'='1", "0x' UNION SELECT * FROM api_keys --"):
        response = await client.post(WALLETS, json={"chain": "ethereum", "address": address})
        assert response.status_code == 422
    listed = (await client.get(WALLETS, params={"chain": "ethereum' OR 1=1 --"})).status_code
    assert listed == 422
    assert [w["label"] for w in (await client.get(WALLETS)).json()["items"]] == [label]


@pytest.mark.parametrize(
    "path",
    [
        f"{WALLETS}/00000000-0000-0000-0000-000000000000",
        f"{WALLETS}/../../etc/passwd",
        f"{WALLETS}/%00",
        f"{WALLETS}/{'9' * 10_000}",
        f"{WALLETS}/1 OR 1=1",
    ],
)
async def test_forged_ids_are_404_or_422(client: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, path)
        assert response.status_code in (404, 422), (method, path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"


async def test_huge_and_odd_numbers_in_queries_are_422(client: httpx.AsyncClient) -> None:
    for limit in ("9" * 400, "-1", "1e3", "NaN", "0x10", ""):
        response = await client.get(WALLETS, params={"limit": limit})
        assert response.status_code == 422, limit
