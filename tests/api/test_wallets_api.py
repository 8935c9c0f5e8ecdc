from __future__ import annotations

from uuid import UUID

import httpx
import pytest

LOWER = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045"
CHECKSUMMED = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"
PROBLEM = "application/problem+json"


async def add(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/api/v1/wallets", json=body)


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return body


async def test_a_lowercase_address_is_created_checksummed(client: httpx.AsyncClient) -> None:
    response = await add(client, chain="ethereum", address=LOWER, label="vitalik")
    assert response.status_code == 201
    wallet = response.json()
    assert wallet["address"] == CHECKSUMMED
    assert wallet["label"] == "vitalik"
    assert wallet["created_at"].endswith("Z")
    assert response.headers["location"] == f"/api/v1/wallets/{wallet['id']}"
    fetched = await client.get(response.headers["location"])
    assert fetched.json() == wallet


async def test_the_same_address_in_other_casing_is_a_conflict_naming_the_first(
    client: httpx.AsyncClient,
) -> None:
    first = (await add(client, chain="ethereum", address=LOWER)).json()
    response = await add(client, chain="ethereum", address="0x" + LOWER[2:].upper())
    body = assert_problem(response, 409)
    assert body["wallet_id"] == first["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chain": "ethereum", "address": "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96046"}, "address"),
        ({"chain": "ethereum", "address": "0xD8dA6BF26964aF9D7eEd9e03E53415D37aA96045"}, "address"),
        ({"chain": "solana", "address": "1111111111111111111111111111111"}, "address"),
        ({"chain": "bitcoin", "address": LOWER}, "chain"),
        ({"chain": "ethereum", "address": LOWER, "label": "x" * 300}, "label"),
        ({"chain": "ethereum"}, "address"),
        ({"address": LOWER}, "chain"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    problem = assert_problem(await add(client, **body), 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert any(error["loc"][-1] == field for error in errors), errors
    assert (await client.get("/api/v1/wallets")).json()["items"] == []


async def test_several_hundred_wallets_page_through_without_gaps_or_repeats(
    client: httpx.AsyncClient,
) -> None:
    created = []
    for n in range(1, 321):
        chain_and_address = {"chain": "ethereum", "address": f"0x{n:040x}"}
        created.append((await add(client, **chain_and_address)).json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 47}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/wallets", params=params)).json()
        seen.extend(wallet["id"] for wallet in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 7
    assert seen == created


async def test_the_chain_filter_and_the_default_page(client: httpx.AsyncClient) -> None:
    await add(client, chain="ethereum", address=LOWER)
    solana = (
        await add(client, chain="solana", address="vines1vzrYbzLMRdu58ou5XTby4qAqVRLmqo36NKPTg")
    ).json()
    page = (await client.get("/api/v1/wallets", params={"chain": "solana"})).json()
    assert page == {"items": [solana], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"chain": "doge"}, {"cursor": "garbage!"}, {"limit": "x"}],
)
async def test_bad_list_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    assert_problem(await client.get("/api/v1/wallets", params=params), 422)


async def test_delete_then_get_is_404_and_a_second_delete_too(client: httpx.AsyncClient) -> None:
    wallet = (await add(client, chain="ethereum", address=LOWER)).json()
    response = await client.delete(f"/api/v1/wallets/{wallet['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/api/v1/wallets/{wallet['id']}"), 404)
    assert_problem(await client.delete(f"/api/v1/wallets/{wallet['id']}"), 404)
    again = await add(client, chain="ethereum", address=LOWER)
    assert again.status_code == 201
    assert UUID(again.json()["id"]) != UUID(wallet["id"])


async def test_a_malformed_wallet_id_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/wallets/not-a-uuid"), 422)
    assert body["errors"] == [
        {"loc": ["path", "wallet_id"], "msg": body["errors"][0]["msg"], "type": "uuid_parsing"}  # type: ignore[index]
    ]


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/wallets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_a_body_that_is_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    body = b'{"chain": "ethereum", "address": "\xff"}'
    headers = {"content-type": "application/json"}
    response = await client.post("/api/v1/wallets", content=body, headers=headers)
    assert_problem(response, 400)
    assert "UTF-8" in response.json()["detail"]


async def test_unknown_routes_and_wrong_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nowhere"), 404)
    wrong = await client.put("/api/v1/wallets")
    assert_problem(wrong, 405)
    assert wrong.headers["allow"] == "GET, HEAD, POST"
    one = await client.post(f"/api/v1/wallets/{UUID(int=1)}")
    assert_problem(one, 405)
    assert one.headers["allow"] == "DELETE, GET, HEAD"


async def test_a_cursor_names_the_query_and_a_forged_time_is_422(
    client: httpx.AsyncClient,
) -> None:
    import base64

    for forged in (
        f"9999-12-31T23:59:59-14:00|{UUID(int=1)}",  # past year 9999 in UTC
        f"0001-01-01T00:00:00+14:00|{UUID(int=1)}",  # before year 1 in UTC
        f"2026-01-01T00:00:00|{UUID(int=1)}",  # no zone
    ):
        cursor = base64.urlsafe_b64encode(forged.encode()).decode()
        body = assert_problem(await client.get("/api/v1/wallets", params={"cursor": cursor}), 422)
        assert body["errors"][0]["loc"] == ["query", "cursor"]  # type: ignore[index]


async def test_a_label_is_trimmed_before_its_length_is_judged(client: httpx.AsyncClient) -> None:
    label = "x" * 100
    created = await client.post(
        "/api/v1/wallets",
        json={"chain": "ethereum", "address": LOWER, "label": f"   {label}   "},
    )
    assert created.status_code == 201, created.text
    assert created.json()["label"] == label
    too_long = await client.post(
        "/api/v1/wallets",
        json={"chain": "ethereum", "address": "0x" + "ab" * 20, "label": " " + "y" * 101},
    )
    body = assert_problem(too_long, 422)
    assert body["errors"][0]["loc"] == ["body", "label"]  # type: ignore[index]
