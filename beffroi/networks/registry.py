"""The networks Beffroi knows, and the connector of each one that can publish."""

from __future__ import annotations

from functools import cache

from django.db import models
from django.utils.translation import gettext_lazy as _


class Network(models.TextChoices):
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    TIKTOK = "tiktok", "TikTok"
    SNAPCHAT = "snapchat", "Snapchat"
    X = "x", "X"
    LINKEDIN = "linkedin", "LinkedIn"
    YOUTUBE = "youtube", "YouTube"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    THREADS = "threads", "Threads"
    ATOM = "atom", _("Atom feed")


@cache
def connectors() -> dict[str, object]:
    from beffroi.networks.mastodon.publish import MastodonConnector

    return {connector.network: connector for connector in (MastodonConnector(),)}


def connector_for(network: str):
    """The connector publishing to this network, or None while Beffroi cannot publish there yet."""
    return connectors().get(network)
