"""Channel health: alerting when a channel must be reconnected, reconnecting it, refreshing tokens ahead of
their expiry. Publications of a channel that needs reconnection are held, never failed: the claim skips the
channel, and past their maximum lateness the sweep marks them missed and tells their authors."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.networks.base import ConnectedAccount
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Action

log = logging.getLogger("beffroi.channels")

# Tokens are refreshed this long before they expire (Instagram's last 60 days, Bluesky sessions hours).
REFRESH_AHEAD = timedelta(days=7)


def channel_managers(channel: Channel) -> list:
    """The people who may reconnect this channel: channel managers whose scope includes it."""
    people = []
    memberships = Membership.objects.filter(organisation_id=channel.organisation_id).select_related("user")
    for membership in memberships:
        if not membership.can(Action.MANAGE_CHANNELS) or not membership.user.email:
            continue
        scope = membership.scope_group_ids()
        if scope is None or channel.group_id in scope:
            people.append(membership.user)
    return people


def held_count(channel: Channel) -> int:
    from beffroi.publishing.models import Publication
    from beffroi.publishing.states import State

    return Publication.objects.filter(channel=channel, state=State.SCHEDULED).count()


def send_reconnection_alert(channel: Channel) -> int:
    link = settings.BASE_URL + reverse("settings_channels", args=[channel.organisation.slug])
    held = held_count(channel)
    recipients = channel_managers(channel)
    for person in recipients:
        with translation.override(person.language or channel.organisation.language):
            body = "\n".join(
                [
                    _("Hello,"),
                    "",
                    _("The channel “%(name)s” (%(network)s) must be reconnected: %(reason)s")
                    % {
                        "name": channel.display_name,
                        "network": channel.get_network_display(),
                        "reason": channel.status_reason or _("the network refused its authorisation."),
                    },
                    "",
                    _(
                        "%(count)s scheduled post(s) are held until then; posts later than %(hours)s h after "
                        "their time will not be sent and their authors will be told."
                    )
                    % {"count": held, "hours": int(channel.max_lateness.total_seconds() // 3600)},
                    "",
                    _("Reconnect it here: %(link)s") % {"link": link},
                ]
            )
            send_mail(_("Beffroi: reconnect “%(name)s”") % {"name": channel.display_name}, body, None, [person.email])
    return len(recipients)


@transaction.atomic
def reconnect_channel(channel: Channel, account: ConnectedAccount) -> Channel:
    """A fresh authorisation for an existing channel: keeps what the network did not resend (a refresh token),
    clears the reconnection flag, and the held publications go out (or are missed, if too late)."""
    channel.store_credentials(account.credentials)
    channel.config = {**channel.config, **account.config}
    channel.token_expires_at = account.token_expires_at
    if channel.status == Channel.Status.NEEDS_RECONNECTION:
        channel.status = Channel.Status.ACTIVE
    channel.status_reason = ""
    channel.save()
    return channel


def channels_to_refresh(now=None):
    now = now or timezone.now()
    return Channel.objects.filter(
        status=Channel.Status.ACTIVE, token_expires_at__isnull=False, token_expires_at__lt=now + REFRESH_AHEAD
    )


def mark_needs_reconnection(channel: Channel, reason: str) -> bool:
    """The network refused the stored authorisation: the channel waits for a person, who is told once."""
    from beffroi.channels.tasks import notify_channel_needs_reconnection

    changed = Channel.objects.filter(pk=channel.pk, status=Channel.Status.ACTIVE).update(
        status=Channel.Status.NEEDS_RECONNECTION, status_reason=reason[:500]
    )
    if changed:
        notify_channel_needs_reconnection.enqueue(channel.pk)
    return bool(changed)


def refresh_expiring_tokens(http, now=None) -> dict[str, int]:
    """Level-triggered (the worker calls it now and then): every active channel whose token expires soon gets a
    new one where its network allows; a refusal marks the channel for reconnection and alerts its managers."""
    from beffroi.networks.base import ChannelAccess, ConnectError, PublishError
    from beffroi.networks.registry import connect_for

    counts = {"refreshed": 0, "failed": 0, "skipped": 0}
    for channel in channels_to_refresh(now):
        connect = connect_for(channel.network)
        if connect is None:
            counts["skipped"] += 1
            continue
        access = ChannelAccess(channel.pk, channel.network, dict(channel.config), channel.credentials)
        try:
            account = connect.refresh(access, http)
        except (PublishError, ConnectError) as error:
            # A connect error is the network refusing the stored authorisation; a publish error says which.
            if isinstance(error, PublishError) and not error.needs_reconnection:
                log.warning("token refresh failed, will retry", extra={"channel_id": channel.pk})
                counts["failed"] += 1
                continue
            mark_needs_reconnection(channel, error.message)
            counts["failed"] += 1
            continue
        except Exception:  # noqa: BLE001 — one channel's trouble must not stop the others
            log.exception("token refresh failed", extra={"channel_id": channel.pk})
            counts["failed"] += 1
            continue
        if account is None:
            counts["skipped"] += 1
            continue
        channel.store_credentials(account.credentials)
        channel.token_expires_at = account.token_expires_at
        channel.save(update_fields=["credentials_encrypted", "token_expires_at", "updated_at"])
        counts["refreshed"] += 1
    return counts
