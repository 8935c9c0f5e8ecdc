"""The tenant's events, live: Server-Sent Events (``GET /events``) and a WebSocket
(``GET /events/ws``), and the short-lived token a browser opens them with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from portfolio.api.auth import Caller, caller, stream_tenant
from portfolio.api.dependencies import services_of
from portfolio.api.problems import problem_responses
from portfolio.domain.errors import DomainError, ServiceUnavailableError
from portfolio.services.streams import EventHub

router = APIRouter(prefix="/events", tags=["events"])
TOKEN_QUERY = Query(
    max_length=100,
    description="A stream token from `POST /api/v1/events/token`, for a client that cannot "
    "send a header (a browser's EventSource or WebSocket).",
)


class StreamTokenOut(BaseModel):
    token: str = Field(description="Opens the tenant's streams as `?token=` until it expires.")
    expires_at: datetime


def _hub(connection: Request | WebSocket) -> EventHub:
    hub = services_of(connection).streams  # type: ignore[arg-type]
    if hub is None:
        raise ServiceUnavailableError("The event stream is not available here.")
    return hub


@router.post(
    "/token",
    dependencies=[Depends(caller)],
    summary="Get a stream token",
    operation_id="events-token",
    responses=problem_responses(401, 403, 429, 503),
)
async def stream_token(request: Request, principal: Caller) -> StreamTokenOut:
    """A token that opens this tenant's event streams for a few minutes (`?token=` on `GET
    /api/v1/events` and `/api/v1/events/ws`): a browser's EventSource cannot send the API key
    as a header, and a key in a URL would end up in logs. Read-only keys may ask for one."""
    tokens = services_of(request).stream_tokens
    if tokens is None:
        raise ServiceUnavailableError("Stream tokens are not available here.")
    token, expires = await tokens.issue(principal.tenant)
    return StreamTokenOut(token=token, expires_at=expires)


@router.get(
    "",
    summary="Stream events (Server-Sent Events)",
    operation_id="events-stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The tenant's events."},
        **problem_responses(401, 429, 503),
    },
)
async def stream_events(
    request: Request,
    token: Annotated[str | None, TOKEN_QUERY] = None,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> EventSourceResponse:
    """The tenant's events as they happen: each an SSE message whose `id` is the event's id,
    `event` its type and `data` the event as JSON; a comment every 15 s (by default) keeps the
    connection open. Reconnecting with `Last-Event-ID` (EventSource does it) sends the events
    after that one first, from those kept (PORTFOLIO_EVENT_RETENTION_HOURS), none twice."""
    tenant = await stream_tenant(request, token)
    hub = _hub(request)

    async def events() -> AsyncIterator[bytes]:
        async for batch in hub.stream(tenant, last_event_id, "sse"):
            # What waited, in one write: the JSON has no raw newline, so one data line each.
            yield "".join(
                f"id: {p.event.id}\nevent: {p.event.type.value}\ndata: {p.text}\n\n" for p in batch
            ).encode()

    return EventSourceResponse(events(), ping=hub.heartbeat_seconds)


@router.websocket("/ws")
async def stream_events_ws(
    websocket: WebSocket,
    token: Annotated[str | None, TOKEN_QUERY] = None,
    last_event_id: Annotated[str | None, Query(max_length=100)] = None,
) -> None:
    """The same events over a WebSocket, one JSON message each; `?last_event_id=` resumes as
    SSE's header does. Refused (closed with 1008) without a valid key or token."""
    try:
        tenant = await stream_tenant(websocket, token)
        hub = _hub(websocket)
    except DomainError:
        await websocket.close(code=1008)
        return
    await websocket.accept()

    async def send() -> None:
        async for batch in hub.stream(tenant, last_event_id, "websocket"):
            for pushed in batch:
                await websocket.send_text(pushed.text)
        await websocket.close(code=1013)  # too slow to keep up: reconnect and resume

    sending = asyncio.create_task(send())
    try:  # the client's side: a disconnect ends the stream at once, not at the next event
        while not sending.done():
            if (await websocket.receive())["type"] == "websocket.disconnect":
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sending
