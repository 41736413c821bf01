"""Subscription helpers: validate the receiver URL before saving, and rotate secrets.

Rotation: Fintoro invalidates the old secret at once, but deliveries signed
before the rotation may still be retried for hours. Verify with both while the
switch settles::

    new_secret = await rotate_secret(fintoro, subscription_id)
    event = verify(body, headers, [new_secret, old_secret])   # until old retries are over
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._urls import Resolver, validate_receiver_url

if TYPE_CHECKING:
    from .._client import FintoroClient
    from ..models.webhook_subscription import WebhookSubscription
    from ..models.webhook_subscription_input import WebhookSubscriptionInput
    from ..models.webhook_subscription_with_secret import WebhookSubscriptionWithSecret


async def create_subscription(
    client: FintoroClient, body: WebhookSubscriptionInput, *, resolver: Resolver | None = None
) -> WebhookSubscriptionWithSecret:
    """Check ``body.url`` like Fintoro will, then create; the result carries ``plain_text_secret`` (once)."""
    await validate_receiver_url(body.url, resolver=resolver)
    return await client.webhook_subscriptions.create(body=body)


async def update_subscription(
    client: FintoroClient, subscription_id: int, body: WebhookSubscriptionInput, *, resolver: Resolver | None = None
) -> WebhookSubscription:
    """Check ``body.url`` like Fintoro will, then update."""
    await validate_receiver_url(body.url, resolver=resolver)
    return await client.webhook_subscriptions.update(subscription_id, body=body)


async def rotate_secret(client: FintoroClient, subscription_id: int) -> str:
    """Rotate the subscription's signing secret; return the new plaintext secret (shown only now)."""
    from ..types import Unset

    rotated = await client.webhook_subscriptions.rotate_secret(subscription_id)
    secret = rotated.plain_text_secret
    if isinstance(secret, Unset) or not secret:
        raise ValueError("Fintoro returned no plainTextSecret for the rotation")
    return secret
