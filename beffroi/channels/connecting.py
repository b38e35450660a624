"""Connecting channels: from a network's authorisation (or form) to channels of an organisation.

The flow is the same for every network (each folder's connect.py does the network's part):
    choose a network → start (a form, or a redirect to the network with a `state`) → callback → finish →
    choose the accounts to add (a Facebook login may give several Pages) → channels created or reconnected.
What the network returns (tokens) is kept encrypted in the person's session between the steps, never in a page.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from beffroi.channels.health import reconnect_channel
from beffroi.channels.models import Channel
from beffroi.core.vault import decrypt_json, encrypt_json
from beffroi.networks.base import ConnectedAccount
from beffroi.organisations.models import Membership, PageGroup
from beffroi.organisations.roles import Action

SESSION_PREFIX = "beffroi-connect:"


def callback_uri(network: str) -> str:
    return settings.BASE_URL + reverse("connect_callback", args=[network])


def new_state() -> str:
    return secrets.token_urlsafe(24)


def remember(session, state: str, data: dict[str, Any]) -> None:
    session[SESSION_PREFIX + state] = encrypt_json(data)


def recall(session, state: str, *, pop: bool = False) -> dict[str, Any] | None:
    key = SESSION_PREFIX + state
    sealed = session.pop(key, None) if pop else session.get(key)
    return decrypt_json(sealed) if sealed else None


def accounts_to_json(accounts: list[ConnectedAccount]) -> list[dict]:
    out = []
    for account in accounts:
        data = asdict(account)
        data["token_expires_at"] = account.token_expires_at.isoformat() if account.token_expires_at else None
        out.append(data)
    return out


def accounts_from_json(items: list[dict]) -> list[ConnectedAccount]:
    return [
        ConnectedAccount(
            **{
                **item,
                "token_expires_at": datetime.fromisoformat(item["token_expires_at"])
                if item.get("token_expires_at")
                else None,
            }
        )
        for item in items
    ]


@transaction.atomic
def add_connected_accounts(
    membership: Membership,
    network: str,
    accounts: list[ConnectedAccount],
    *,
    group: PageGroup | None,
) -> tuple[list[Channel], list[Channel]]:
    """Creates a channel per new account; an account already connected in this organisation is reconnected
    instead (its publications and history stay). Returns (created, reconnected)."""
    if not membership.can(Action.MANAGE_CHANNELS):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if group is not None and group.organisation_id != membership.organisation_id:
        raise ValidationError({"group": _("This group belongs to another organisation.")})
    scope = membership.scope_group_ids()
    if scope is not None and (group is None or group.pk not in scope):
        raise ValidationError({"group": _("Choose one of your page groups.")})
    created, reconnected = [], []
    for account in accounts:
        existing = (
            Channel.objects.select_for_update()
            .filter(organisation=membership.organisation, network=network, remote_id=account.remote_id)
            .first()
        )
        if existing is not None:
            reconnected.append(reconnect_channel(existing, account))
            continue
        channel = Channel(
            organisation=membership.organisation,
            group=group,
            network=network,
            display_name=account.display_name[:120],
            handle=account.handle[:255],
            remote_id=account.remote_id,
            config=account.config,
            token_expires_at=account.token_expires_at,
        )
        channel.credentials = account.credentials
        channel.full_clean(exclude=["organisation"])
        channel.save()
        created.append(channel)
    return created, reconnected
