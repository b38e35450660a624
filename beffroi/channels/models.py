"""A channel is one connected page or account on one network."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from beffroi.core.timezones import validate_time_zone
from beffroi.core.vault import decrypt_json, encrypt_json
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership, Organisation, PageGroup


class ChannelQuerySet(models.QuerySet):
    def visible_to(self, membership: Membership) -> ChannelQuerySet:
        """Channels of the membership's organisation, narrowed to its page groups when it is scoped."""
        channels = self.filter(organisation_id=membership.organisation_id)
        scope = membership.scope_group_ids()
        return channels if scope is None else channels.filter(group_id__in=scope)


class Channel(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        NEEDS_RECONNECTION = "needs_reconnection", _("Needs reconnection")
        DISABLED = "disabled", _("Disabled")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="channels")
    group = models.ForeignKey(
        PageGroup,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="channels",
        verbose_name=_("page group"),
    )
    network = models.CharField(_("network"), max_length=16, choices=Network.choices)
    display_name = models.CharField(_("display name"), max_length=120)
    handle = models.CharField(_("handle"), max_length=255, blank=True)
    remote_id = models.CharField(_("remote id"), max_length=255, blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Leave empty to use the organisation's time zone."),
    )
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.ACTIVE)
    # Non-secret connection settings (e.g. a Mastodon instance's address).
    config = models.JSONField(default=dict, blank=True)
    # Publishing: a late post still goes out within this delay after its time, else it is "missed".
    max_lateness = models.DurationField(
        _("maximum lateness"),
        default=timedelta(hours=2),
        help_text=_("After an outage, a post later than this is not sent and its author is told."),
    )
    # Set when the network asks us to slow down (429, Retry-After): nothing is sent before then.
    paused_until = models.DateTimeField(null=True, blank=True)
    # Encrypted JSON (MultiFernet). Read and write through .credentials; never displayed anywhere.
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    # When the access token stops working, where the network says (refreshed ahead of it where allowed).
    token_expires_at = models.DateTimeField(_("authorisation expires"), null=True, blank=True)
    # Why the channel needs reconnection, for people (the network's words, translated where known).
    status_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "network", "remote_id"],
                condition=~models.Q(remote_id=""),
                name="one_channel_per_remote_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_network_display()})"

    def __repr__(self) -> str:
        return f"<Channel {self.pk} {self.network} {self.display_name!r}>"

    @property
    def credentials(self) -> dict[str, Any]:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict[str, Any]) -> None:
        self.credentials_encrypted = encrypt_json(value) if value else ""

    @property
    def effective_time_zone(self) -> str:
        return self.time_zone or self.organisation.time_zone

    def store_credentials(self, new: dict[str, Any]) -> None:
        """Keeps what the network did not send again: reconnecting never drops a stored refresh token."""
        try:
            current = self.credentials
        except Exception:  # noqa: BLE001 — unreadable (key lost): start afresh
            current = {}
        self.credentials = {**current, **{key: value for key, value in new.items() if value not in (None, "")}}


class OAuthApp(models.Model):
    """Beffroi's client registration on one server: Mastodon registers an app per instance (POST /api/v1/apps),
    so it is stored once per instance and reused by every organisation connecting an account there."""

    network = models.CharField(max_length=16, choices=Network.choices)
    server = models.URLField(max_length=500)  # e.g. https://mastodon.social
    redirect_uri = models.URLField(max_length=1000)
    scopes = models.CharField(max_length=500)
    client_id = models.CharField(max_length=500)
    client_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "server", "redirect_uri", "scopes"], name="one_app_per_server")
        ]

    def __repr__(self) -> str:
        return f"<OAuthApp {self.network} {self.server}>"

    @property
    def client_secret(self) -> str:
        return decrypt_json(self.client_secret_encrypted).get("secret", "") if self.client_secret_encrypted else ""

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.client_secret_encrypted = encrypt_json({"secret": value}) if value else ""
