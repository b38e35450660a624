"""Watched pages: public accounts of peers or partners an organisation follows for inspiration (the training decks'
"Meilleures publications des Pages que vous surveillez").

Only networks whose folder offers a `PUBLIC_READER` can be watched (Bluesky and Mastodon: their public APIs let
anyone read an account's posts and counts). A server a person types is fetched by this server, so it passes the
SSRF guard first — when it is added and again each time it is read (a name can be pointed elsewhere later).

Reading is `read_account(account, reader=…, http=…)`: the reader and the HTTP client are passed in, so tests give
a fake reader and production gives the network's. A failed read keeps what was stored and says why in
`last_error`.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from beffroi.insights.base import PublicReader, SyncFailed, WatchedProfile
from beffroi.insights.metrics import PostMetric, PostType
from beffroi.insights.models import WatchedAccount, WatchedPostRecord
from beffroi.networks import servers
from beffroi.networks.base import ConnectError
from beffroi.networks.registry import SUPPORTED, Network, public_reader_for

log = logging.getLogger(__name__)

POSTS_PER_READ = 40
TIMEOUT_S = 15.0
# Where Bluesky's public posts are read when no server is given (the public AppView answers without login).
BLUESKY_PUBLIC_API = "https://public.api.bsky.app"
# How host names are resolved for the SSRF guard (looked up at each call, so tests can give their own).
resolve_host = socket.getaddrinfo


class WatchError(ValueError):
    """A watched account that cannot be added or read, said so a person can act on it (English template,
    translated when shown)."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)

    def localized(self) -> str:
        translated = _(self.template)
        return translated % self.params if self.params else translated


def watchable_networks() -> list[tuple[str, str]]:
    """(value, label) of the networks whose public accounts can be read."""
    return [(str(network), str(Network(network).label)) for network in SUPPORTED if public_reader_for(network)]


def _allow_private(network: str) -> bool:
    if settings.DEBUG:
        return True
    if network == Network.MASTODON:
        return bool(getattr(settings, "MASTODON_ALLOW_PRIVATE_INSTANCES", False))
    return bool(getattr(settings, "BLUESKY_ALLOW_PRIVATE_SERVICES", False))


def normalise_server(network: str, value: str) -> str:
    """`mastodon.social` or `https://mastodon.social/` → `https://mastodon.social`, after the SSRF guard."""
    from beffroi.networks.mastodon.connect import normalise_instance

    allow_private = _allow_private(network)
    try:
        base, host, port = normalise_instance(value, allow_private=allow_private)
        if not allow_private:
            servers.check_public_host(host, port, resolve=resolve_host)
    except ConnectError as error:
        raise WatchError(error.template, **error.params) from error
    return base


def split_handle(network: str, handle: str, server: str) -> tuple[str, str]:
    """The handle as the network names the account, and the server (typed, or taken from a Mastodon address
    `@name@server`)."""
    handle = handle.strip().lstrip("@").strip()
    server = server.strip()
    if not handle:
        raise WatchError(gettext_noop("Type the account to watch."))
    if network == Network.MASTODON:
        name, _at, host = handle.partition("@")
        if host and not server:
            server, handle = host, name
        if not server:
            raise WatchError(gettext_noop("Type the Mastodon server of this account, e.g. mastodon.social."))
    if any(character.isspace() for character in handle) or "/" in handle:
        raise WatchError(gettext_noop("%(handle)s is not an account name."), handle=handle)
    return handle, server


def add_watched(organisation, user, network: str, handle: str, server: str = "") -> WatchedAccount:
    if network not in dict(watchable_networks()):
        raise WatchError(gettext_noop("This network does not let Beffroi read public accounts."))
    handle, server = split_handle(network, handle, server)
    base = normalise_server(network, server) if server else ""
    try:
        with transaction.atomic():
            return WatchedAccount.objects.create(
                organisation=organisation, network=network, handle=handle, server=base, added_by=user
            )
    except IntegrityError as error:
        raise WatchError(gettext_noop("This account is already watched.")) from error


def reader_config(account: WatchedAccount) -> dict[str, Any]:
    """What the reader needs besides the handle: the server, under the names the network's connector uses."""
    server = account.server or (BLUESKY_PUBLIC_API if account.network == Network.BLUESKY else "")
    config: dict[str, Any] = {"server": server}
    if account.network == Network.MASTODON:
        config["instance_url"] = server
    elif account.network == Network.BLUESKY:
        config["service"] = server
    return config


def _interactions(values: dict[PostMetric, int]) -> int | None:
    if PostMetric.INTERACTIONS in values:
        return values[PostMetric.INTERACTIONS]
    parts = [values[m] for m in (PostMetric.LIKES, PostMetric.COMMENTS, PostMetric.SHARES) if m in values]
    return sum(parts) if parts else None


def store_profile(account: WatchedAccount, profile: WatchedProfile, now: datetime) -> int:
    """Upserts the account's facts and its posts (one transaction). Returns the number of posts read."""
    with transaction.atomic():
        WatchedAccount.objects.filter(pk=account.pk).update(
            display_name=(profile.display_name or "")[:255],
            url=(profile.url or "")[:2000],
            followers=profile.followers,
            remote_id=(profile.remote_id or "")[:255],
            read_at=now,
            last_error="",
        )
        for post in profile.posts:
            values = {PostMetric(key): int(value) for key, value in post.values.items()}
            WatchedPostRecord.objects.update_or_create(
                account=account,
                remote_id=post.remote_id[:255],
                defaults={
                    "url": (post.url or "")[:2000],
                    "text": post.text or "",
                    "post_type": str(post.post_type or PostType.TEXT),
                    "published_at": post.published_at,
                    "likes": values.get(PostMetric.LIKES),
                    "comments": values.get(PostMetric.COMMENTS),
                    "shares": values.get(PostMetric.SHARES),
                    "interactions": _interactions(values),
                },
            )
    account.refresh_from_db()
    return len(profile.posts)


def describe_failure(error: Exception) -> str:
    """A message people can act on, in the current language (stored in last_error)."""
    if isinstance(error, WatchError):
        return error.localized()
    if isinstance(error, ConnectError):
        return error.localized()
    if isinstance(error, SyncFailed):
        return _("The network refused to read this account: %(detail)s") % {"detail": error.detail}
    if isinstance(error, httpx.TimeoutException):
        return _("The server did not answer in time. Try again later.")
    if isinstance(error, httpx.HTTPStatusError):
        if error.response.status_code == 404:
            return _("The network does not know this account. Check its name.")
        return _("The server answered with an error (HTTP %(status)s).") % {"status": error.response.status_code}
    if isinstance(error, httpx.HTTPError):
        return _("The server could not be reached: %(detail)s") % {"detail": str(error) or type(error).__name__}
    return _("The account could not be read: %(detail)s") % {"detail": str(error) or type(error).__name__}


def read_account(
    account: WatchedAccount,
    *,
    reader: PublicReader | None = None,
    http: httpx.Client | None = None,
    limit: int = POSTS_PER_READ,
    now: datetime | None = None,
) -> bool:
    """Reads the account now and stores what was read; on failure stores why. Returns True when it worked."""
    now = now or timezone.now()
    reader = reader or public_reader_for(account.network)
    try:
        if reader is None:
            raise WatchError(gettext_noop("This network does not let Beffroi read public accounts."))
        if account.server:
            normalise_server(account.network, account.server)  # the guard again: the name may point elsewhere now
        if http is None:
            with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
                profile = reader.read_public(client, account.handle, config=reader_config(account), limit=limit)
        else:
            profile = reader.read_public(http, account.handle, config=reader_config(account), limit=limit)
        store_profile(account, profile, now)
    except Exception as error:  # noqa: BLE001 — whatever went wrong is stored and shown, never raised to the page
        message = describe_failure(error)
        log.info("reading watched account %s failed: %s", account.pk, message)
        WatchedAccount.objects.filter(pk=account.pk).update(last_error=message[:500])
        account.last_error = message[:500]
        return False
    return True


def best_posts(organisation, since: datetime, until: datetime, limit: int = 20):
    """The watched accounts' posts of the period with the most interactions (unknown counts last)."""
    from django.db.models import F

    return list(
        WatchedPostRecord.objects.filter(
            account__organisation=organisation, published_at__gte=since, published_at__lt=until
        )
        .select_related("account")
        .order_by(F("interactions").desc(nulls_last=True), "-published_at")[:limit]
    )
