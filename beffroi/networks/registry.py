"""The networks Beffroi knows. Each network's folder (added with its connector) declares its capabilities."""

from __future__ import annotations

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
