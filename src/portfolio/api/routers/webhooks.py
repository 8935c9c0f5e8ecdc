"""Webhook endpoints: a tenant's receivers of events, a test ping, and the deliveries log."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from portfolio.api.auth import Caller, caller
from portfolio.api.dependencies import Webhooks
from portfolio.api.openapi import LOCATION
from portfolio.api.problems import problem_responses
from portfolio.api.schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookTestOut,
)

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(caller)],
    responses=problem_responses(401, 403, 429),
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a webhook",
    operation_id="webhooks-create",
    responses={201: {"headers": LOCATION}, **problem_responses(400, 413, 415, 422, 503)},
)
async def create_webhook(
    body: WebhookCreate, webhooks: Webhooks, principal: Caller, request: Request, response: Response
) -> WebhookCreated:
    """Events of the types named are POSTed to `url`, signed as Standard Webhooks says
    (`webhook-id`, `webhook-timestamp`, `webhook-signature`), so a receiver verifies them with
    the `standardwebhooks` library and the `secret` answered here, which is never shown
    again. A 2xx answer within 10 s is a delivery; anything else is tried again after 5 s,
    5 min, 30 min, 2 h, 5 h, 10 h and 14 h with the same `webhook-id`."""
    webhook, secret = await webhooks.create(
        principal.tenant, body.url, body.events, body.description
    )
    response.headers["Location"] = str(request.url_for("get_webhook", webhook_id=webhook.id).path)
    return WebhookCreated(**WebhookOut.of(webhook).model_dump(), secret=secret)


@router.get(
    "", summary="List webhooks", operation_id="webhooks-list", responses=problem_responses(503)
)
async def list_webhooks(webhooks: Webhooks, principal: Caller) -> WebhookList:
    return WebhookList(items=[WebhookOut.of(w) for w in await webhooks.every(principal.tenant)])


@router.get(
    "/{webhook_id}",
    summary="Get a webhook",
    operation_id="webhooks-get",
    responses=problem_responses(404, 422, 503),
)
async def get_webhook(webhook_id: UUID, webhooks: Webhooks, principal: Caller) -> WebhookOut:
    return WebhookOut.of(await webhooks.get(principal.tenant, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook",
    operation_id="webhooks-delete",
    responses=problem_responses(404, 422, 503),
)
async def delete_webhook(webhook_id: UUID, webhooks: Webhooks, principal: Caller) -> Response:
    """Remove the webhook, with what was still to send to it and its deliveries log."""
    await webhooks.remove(principal.tenant, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a test ping",
    operation_id="webhooks-test",
    responses=problem_responses(404, 422, 503),
)
async def test_webhook(webhook_id: UUID, webhooks: Webhooks, principal: Caller) -> WebhookTestOut:
    """Queue a `ping` message (`{"type": "ping", ...}`), sent and retried like any other; its
    tries appear under deliveries."""
    return WebhookTestOut(event_id=await webhooks.test(principal.tenant, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    summary="List delivery attempts",
    operation_id="webhooks-deliveries",
    responses=problem_responses(404, 422, 503),
)
async def list_deliveries(
    webhook_id: UUID,
    webhooks: Webhooks,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first.")] = 100,
) -> DeliveryList:
    """Each try, newest first (kept PORTFOLIO_EVENT_RETENTION_HOURS): when, which event, the
    status code answered, how long it took, and the error when there was no answer."""
    attempts = await webhooks.deliveries(principal.tenant, webhook_id, limit)
    return DeliveryList(items=[DeliveryOut.of(a) for a in attempts])
