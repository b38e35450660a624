"""Publishing to Bluesky (AT Protocol) over XRPC on the dispatcher's shared httpx.AsyncClient.

A post is an `app.bsky.feed.post` record created in the account's repository on its PDS with
`com.atproto.repo.createRecord`: links, mentions and hashtags are facets with UTF-8 byte offsets, pictures are blobs
uploaded first, a thread is a chain of replies, reply controls are an `app.bsky.feed.threadgate` record with the
post's record key, written in the same commit as the post (applyWrites: both or neither).

Exactly once: every record is created under a record key (a TID) derived from the publication's idempotency key,
so a second create of the same post cannot make a second post; the PDS refuses it (with a 500, as of PDS 0.5) and
reading that key back tells whether the post is there. Re-sending is therefore safe for as long as the post exists.

Sessions: app-password sessions (accessJwt ~2 h, refreshJwt ~90 days). An expired access token is refreshed with
refreshSession, a dead refresh token replaced with createSession (limited to 30 per 5 minutes per handle: never per
publish). OAuth sessions (credentials with `oauth`, see oauth.py): DPoP-bound tokens, renewed with the refresh grant
(the refresh token rotates); a refused refresh means reconnecting. Refreshed sessions are kept in this process by
channel until the engine can store them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import mimetypes
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from atproto_client import models
from atproto_client.models.utils import get_model_as_dict

from beffroi.core.logging import redact
from beffroi.core.ratelimit import Rate
from beffroi.networks import text as texts
from beffroi.networks.base import (
    ChannelAccess,
    ErrorKind,
    MediaItem,
    Published,
    PublishError,
    PublishJob,
    RemotePost,
    classify_transport_error,
    parse_retry_after,
)
from beffroi.networks.bluesky import oauth
from beffroi.networks.bluesky.capabilities import CAPABILITIES
from beffroi.networks.capabilities import Capabilities, MediaKind

DEFAULT_SERVICE = "https://bsky.social"
POST = "app.bsky.feed.post"
THREADGATE = "app.bsky.feed.threadgate"
REPLY_CONTROLS = ("everyone", "mentioned", "following", "nobody")
# Answers meaning "this access token no longer works": refresh the session and try once more.
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})
MAX_TAG_GRAPHEMES = 64  # app.bsky.richtext.facet#tag
# Record keys of posts whose publication has no due time: a fixed, old base keeps them deterministic.
FALLBACK_KEY_TIME = datetime(2024, 1, 1, tzinfo=UTC)
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
IMAGE_RULE = CAPABILITIES.rule_for(MediaKind.IMAGE)
# Objects the lexicons do not put in unions: their "$type" is noise the Bluesky app never writes.
_PLAIN_TYPES = frozenset(
    {
        "app.bsky.richtext.facet",
        "app.bsky.richtext.facet#byteSlice",
        "app.bsky.embed.images#image",
        "app.bsky.embed.defs#aspectRatio",
    }
)

# Error codes (PublishError.code) and their English messages, for translation by the engine.
MESSAGES = {
    "unreachable": "Bluesky could not be reached; nothing was sent.",
    "no_answer": "Bluesky did not answer in time; the post may or may not be published.",
    "server_error": "Bluesky answered with an error ({status}); the post may or may not be published.",
    "server_error_before_post": "Bluesky answered with an error ({status}) before anything was posted.",
    "rate_limited": "Bluesky asked us to slow down (rate limit).",
    "needs_reconnection": "Bluesky refused the channel's authorisation ({detail}): reconnect the channel.",
    "invalid_post": "Bluesky refused the post: {detail}",
    "media_too_big": "Bluesky refused a picture because it is too big ({detail}).",
    "media_unreadable": "A picture of the post could not be read on this server ({detail}).",
    "video_unsupported": "Beffroi cannot publish videos on Bluesky yet.",
    "too_many_media": "Bluesky takes at most 4 pictures per post.",
    "record_key_taken": "A different post already uses this post's record key on Bluesky; it was not published.",
    "thread_incomplete": "The first {published} part(s) of the thread were published, then Bluesky refused the "
    "next one: {detail}",
}


# --------------------------------------------------------------------------------------------------------------
# Record keys, JWTs, small helpers
# --------------------------------------------------------------------------------------------------------------


def tid(micros: int, clock_id: int) -> str:
    """A TID: 53 bits of microseconds since the epoch, 10 bits of clock id, in base32-sortable (13 characters)."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


def record_key(idempotency_key: str, part: int, due_at: datetime | None) -> str:
    """The record key of one part of a publication: the same for every attempt of it.

    Its time is the publication's due time (so listRecords, which sorts by key, still lists posts roughly in
    publishing order); the sub-second part and the clock id come from a hash of the key (about 2^30 values per
    second of due time, so two publications due the same second on one account do not collide)."""
    digest = int.from_bytes(hashlib.sha256(f"{idempotency_key}#{part}".encode()).digest()[:8], "big")
    seconds = int((due_at or FALLBACK_KEY_TIME).timestamp())
    return tid(seconds * 1_000_000 + digest % 1_000_000, digest >> 54)


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT (not verified: only to refresh ahead of time)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def as_record(model: Any) -> dict[str, Any]:
    """An atproto model as the JSON a record holds, without "$type" on objects that are not in a union."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items() if not (key == "$type" and item in _PLAIN_TYPES)}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return clean(get_model_as_dict(model))


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def split_uri(uri: str) -> tuple[str, str, str]:
    """at://did/collection/rkey → (did, collection, rkey)."""
    if not uri.startswith("at://"):
        raise ValueError(f"not an at:// URI: {uri!r}")
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3:
        raise ValueError(f"not a record URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def post_url(handle: str, uri: str) -> str:
    did, _, rkey = split_uri(uri)
    return f"https://bsky.app/profile/{handle or did}/post/{rkey}"


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(XRPC error name, message) of an error answer."""
    try:
        body = response.json()
    except ValueError:
        return "", response.reason_phrase or f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return "", response.reason_phrase or f"HTTP {response.status_code}"
    name = str(body.get("error") or "")
    return name, str(body.get("message") or name or response.reason_phrase)


def _token_refused(response: httpx.Response) -> bool:
    """The access token no longer works (app-password sessions: XRPC names; OAuth: `invalid_token`)."""
    if response.status_code not in (400, 401):
        return False
    return _error_of(response)[0] in TOKEN_ERRORS or oauth.is_invalid_token(response)


def _excerpt(response: httpx.Response) -> str:
    return redact(response.text[:500])


# --------------------------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------------------------


def _stored_token(access: ChannelAccess) -> str:
    """The access token the database holds for the channel (OAuth and app-password sessions name it apart)."""
    credentials = access.credentials
    return str(credentials.get("access_token" if credentials.get("oauth") else "access_jwt") or "")


@dataclass
class Session:
    service: str
    did: str
    handle: str
    access_jwt: str  # with OAuth: the DPoP-bound access token
    refresh_jwt: str  # with OAuth: the refresh token
    oauth: bool = False
    expires_at: datetime | None = None  # OAuth: the access token's expiry (expires_in)
    scope: str = ""
    dpop_jwk: dict[str, str] | None = field(default=None, repr=False)  # OAuth: the session's DPoP key
    token_endpoint: str = ""
    client_id: str = ""

    @classmethod
    def from_access(cls, access: ChannelAccess) -> Session:
        credentials, config = access.credentials, access.config
        is_oauth = bool(credentials.get("oauth"))
        return cls(
            service=str(credentials.get("service") or config.get("service") or DEFAULT_SERVICE).rstrip("/"),
            did=str(credentials.get("did") or config.get("did") or ""),
            handle=str(config.get("handle") or credentials.get("handle") or credentials.get("identifier") or ""),
            access_jwt=str(credentials.get("access_token" if is_oauth else "access_jwt") or ""),
            refresh_jwt=str(credentials.get("refresh_token" if is_oauth else "refresh_jwt") or ""),
            oauth=is_oauth,
            expires_at=oauth.access_expiry(credentials) if is_oauth else None,
            scope=str(credentials.get("scope") or "") if is_oauth else "",
            dpop_jwk=credentials.get("dpop_jwk") if is_oauth else None,
            token_endpoint=str(credentials.get("token_endpoint") or "") if is_oauth else "",
            client_id=str(credentials.get("client_id") or "") if is_oauth else "",
        )

    def expiry(self) -> datetime | None:
        return self.expires_at or jwt_expiry(self.access_jwt)

    def credentials(self, access: ChannelAccess) -> dict[str, Any]:
        """The channel's credentials with this session's tokens (what the database should hold)."""
        if self.oauth:
            return {
                **access.credentials,
                "access_token": self.access_jwt,
                "refresh_token": self.refresh_jwt,
                "expires_at": self.expires_at.isoformat() if self.expires_at else "",
                "scope": self.scope or access.credentials.get("scope", ""),
                "did": self.did,
                "service": self.service,
            }
        return {
            **access.credentials,
            "access_jwt": self.access_jwt,
            "refresh_jwt": self.refresh_jwt,
            "did": self.did,
            "service": self.service,
        }


class SessionCache:
    """Sessions refreshed in this process, by channel, while the engine has no way to store them yet.

    An entry is used only while the database still holds the tokens it replaced (a reconnection wins)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[str, Session]] = {}

    def get(self, access: ChannelAccess) -> Session:
        stored = _stored_token(access)
        entry = self._entries.get(access.channel_id)
        if entry is not None and entry[0] == stored:
            return entry[1]
        return Session.from_access(access)

    def put(self, access: ChannelAccess, session: Session) -> None:
        self._entries[access.channel_id] = (_stored_token(access), session)

    def refreshed_credentials(self, access: ChannelAccess) -> dict[str, Any] | None:
        """New credentials to store for this channel, if this process refreshed its session."""
        entry = self._entries.get(access.channel_id)
        if entry is None or entry[0] != _stored_token(access):
            return None
        return entry[1].credentials(access)


# --------------------------------------------------------------------------------------------------------------
# The connector
# --------------------------------------------------------------------------------------------------------------


class BlueskyConnector:
    network: ClassVar[str] = "bluesky"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    # Record keys derived from the idempotency key (see record_key): a re-send finds the post instead of making a
    # second one, for as long as the post exists — the PDS never forgets a key, hence the long window.
    supports_idempotency_key = True
    idempotency_window: ClassVar[timedelta] = timedelta(days=365)
    max_concurrency: ClassVar[int] = 500

    def __init__(self, *, max_image_bytes: int | None = IMAGE_RULE.max_bytes if IMAGE_RULE else None) -> None:
        # None only in tests that let the network refuse big pictures itself.
        self.max_image_bytes = max_image_bytes
        self.sessions = SessionCache()
        self.dpop_nonces = oauth.NonceStore()  # the servers' latest DPoP nonces (saves a round trip per call)
        # One OAuth refresh at a time per channel: a refresh token is used once, and the reference PDS ends the
        # whole session when an already-used one comes back (concurrent publishes must share the new tokens).
        self._refresh_locks: dict[int, asyncio.Lock] = {}

    def refreshed_credentials(self, access: ChannelAccess) -> dict[str, Any] | None:
        """Credentials this process renewed for the channel: the engine stores them with the outcome."""
        return self.sessions.refreshed_credentials(access)

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        # A Bluesky-hosted PDS gives each DID 5,000 write points an hour, a create costing 3: 1,666 posts an hour.
        # Self-hosted PDSes set their own limits (often none); the same budget keeps us polite there too.
        did = job.credentials.get("did") or job.config.get("did") or f"channel-{job.channel_id}"
        return f"bluesky:{did}", Rate(1666, 3600.0)

    # XRPC --------------------------------------------------------------------------------------------------

    async def _send(
        self,
        http: httpx.AsyncClient,
        session: Session,
        method: str,
        nsid: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        url = f"{session.service}/xrpc/{nsid}"
        if token and session.oauth and session.dpop_jwk:
            # DPoP: `Authorization: DPoP <token>` and a proof bound to this request and token (nonce retried).
            return await oauth.dpop_request_async(
                http,
                method,
                url,
                session.dpop_jwk,
                self.dpop_nonces,
                access_token=token,
                headers={"Content-Type": content_type} if content_type else None,
                params=params,
                **({"content": content} if content is not None else {"json": body} if method != "GET" else {}),
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content_type:
            headers["Content-Type"] = content_type
        if method == "GET":
            return await http.get(url, params=params, headers=headers)
        if content is not None:
            return await http.post(url, content=content, headers=headers)
        return await http.post(url, json=body, headers=headers)

    async def _authed(
        self, http: httpx.AsyncClient, access: ChannelAccess, session: Session, method: str, nsid: str, **kwargs: Any
    ) -> tuple[httpx.Response, Session]:
        """A call with the session's access token; refreshes the session once if the token no longer works."""
        expiry = session.expiry()
        if not session.access_jwt or (expiry is not None and expiry <= datetime.now(UTC) + timedelta(seconds=30)):
            session = await self._renew(http, access, session)
        response = await self._send(http, session, method, nsid, token=session.access_jwt, **kwargs)
        if _token_refused(response):
            session = await self._renew(http, access, session)
            response = await self._send(http, session, method, nsid, token=session.access_jwt, **kwargs)
            if _token_refused(response):
                raise self._reconnect(response, f"{method} {nsid}")
        return response, session

    async def _renew(self, http: httpx.AsyncClient, access: ChannelAccess, session: Session) -> Session:
        """refreshSession, or createSession with the app password when the refresh token is dead."""
        if session.oauth:
            return await self._renew_oauth(http, access, session)
        summary = "POST com.atproto.server.refreshSession"
        try:
            if session.refresh_jwt:
                response = await self._send(
                    http, session, "POST", "com.atproto.server.refreshSession", token=session.refresh_jwt
                )
                if response.status_code == 200:
                    return self._keep(access, session, response.json())
                if response.status_code == 429 or response.status_code >= 500:
                    raise self._http_error(response, summary, posted=False)
            identifier = access.credentials.get("identifier") or session.handle or session.did
            password = access.credentials.get("app_password")
            if not (identifier and password):
                raise PublishError(
                    ErrorKind.PERMANENT,
                    MESSAGES["needs_reconnection"].format(detail="session expired, no app password stored"),
                    code="needs_reconnection",
                    needs_reconnection=True,
                    request=summary,
                )
            summary = "POST com.atproto.server.createSession"
            response = await self._send(
                http,
                session,
                "POST",
                "com.atproto.server.createSession",
                body={"identifier": identifier, "password": password},
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, summary, posted=False) from exc
        if response.status_code == 200:
            return self._keep(access, session, response.json())
        if response.status_code in (400, 401, 403):
            raise self._reconnect(response, summary)
        raise self._http_error(response, summary, posted=False)

    async def _renew_oauth(self, http: httpx.AsyncClient, access: ChannelAccess, session: Session) -> Session:
        """The OAuth refresh grant (DPoP-bound); a refused refresh token means reconnecting the channel."""
        lock = self._refresh_locks.setdefault(access.channel_id, asyncio.Lock())
        async with lock:
            current = self.sessions.get(access)
            if current.oauth and current.refresh_jwt != session.refresh_jwt:
                return current  # renewed by another call meanwhile
            return await self._refresh_oauth(http, access, session)

    async def _refresh_oauth(self, http: httpx.AsyncClient, access: ChannelAccess, session: Session) -> Session:
        summary = f"POST {session.token_endpoint or 'OAuth token endpoint'} (refresh_token grant)"
        if not (session.refresh_jwt and session.dpop_jwk and session.token_endpoint and session.client_id):
            raise PublishError(
                ErrorKind.PERMANENT,
                MESSAGES["needs_reconnection"].format(detail="OAuth session incomplete"),
                code="needs_reconnection",
                needs_reconnection=True,
                request=summary,
            )
        try:
            response = await oauth.dpop_request_async(
                http,
                "POST",
                session.token_endpoint,
                session.dpop_jwk,
                self.dpop_nonces,
                data=oauth.refresh_form(refresh_token=session.refresh_jwt, client_id=session.client_id),
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, summary, posted=False) from exc
        if response.status_code == 200:
            try:
                tokens = oauth.parse_tokens(response)
            except oauth.OAuthError as exc:
                raise self._reconnect(response, summary) from exc
            if tokens.sub and tokens.sub != session.did:
                raise self._reconnect(response, summary)
            renewed = replace(
                session,
                access_jwt=tokens.access_token,
                refresh_jwt=tokens.refresh_token or session.refresh_jwt,
                expires_at=tokens.expires_at,
                scope=tokens.scope or session.scope,
            )
            self.sessions.put(access, renewed)
            return renewed
        if response.status_code == 429 or response.status_code >= 500:
            raise self._http_error(response, summary, posted=False)
        # invalid_grant (revoked, expired, already used), invalid_client, invalid_dpop_proof…
        raise self._reconnect(response, summary)

    def _keep(self, access: ChannelAccess, session: Session, body: dict[str, Any]) -> Session:
        renewed = Session(
            service=session.service,
            did=str(body.get("did") or session.did),
            handle=str(body.get("handle") or session.handle),
            access_jwt=str(body["accessJwt"]),
            refresh_jwt=str(body.get("refreshJwt") or session.refresh_jwt),
        )
        self.sessions.put(access, renewed)
        return renewed

    # Errors ------------------------------------------------------------------------------------------------

    def _reconnect(self, response: httpx.Response, summary: str) -> PublishError:
        name, message = _error_of(response)
        return PublishError(
            ErrorKind.PERMANENT,
            MESSAGES["needs_reconnection"].format(detail=message),
            code="needs_reconnection",
            needs_reconnection=True,
            request=summary,
            response_status=response.status_code,
            response=_excerpt(response),
        )

    def _transport_error(self, exc: httpx.TransportError, summary: str, *, posted: bool) -> PublishError:
        """`posted`: the request may have created something (a record), not only read or uploaded."""
        kind = classify_transport_error(exc)
        if kind == ErrorKind.AMBIGUOUS and not posted:
            kind = ErrorKind.RETRYABLE  # a read, an upload or a session call: nothing was published
        code = "unreachable" if kind == ErrorKind.RETRYABLE else "no_answer"
        message = MESSAGES["unreachable"] if kind == ErrorKind.RETRYABLE else MESSAGES["no_answer"]
        return PublishError(kind, message, code=code, request=f"{summary} ({type(exc).__name__})")

    def _http_error(self, response: httpx.Response, summary: str, *, posted: bool) -> PublishError:
        status = response.status_code
        name, message = _error_of(response)
        common: dict[str, Any] = {"request": summary, "response_status": status, "response": _excerpt(response)}
        if status == 429:
            return PublishError(
                ErrorKind.RETRYABLE,
                MESSAGES["rate_limited"],
                code="rate_limited",
                retry_after=parse_retry_after(response) or 60.0,
                **common,
            )
        if status in (401, 403) or name in TOKEN_ERRORS:
            return self._reconnect(response, summary)
        if status == 413 or name in ("BlobTooLarge", "PayloadTooLarge"):
            return PublishError(
                ErrorKind.PERMANENT, MESSAGES["media_too_big"].format(detail=message), code="media_too_big", **common
            )
        if 400 <= status < 500:
            return PublishError(
                ErrorKind.PERMANENT, MESSAGES["invalid_post"].format(detail=message), code="invalid_post", **common
            )
        if posted:
            return PublishError(
                ErrorKind.AMBIGUOUS, MESSAGES["server_error"].format(status=status), code="server_error", **common
            )
        return PublishError(
            ErrorKind.RETRYABLE,
            MESSAGES["server_error_before_post"].format(status=status),
            code="server_error_before_post",
            **common,
        )

    # Building posts ----------------------------------------------------------------------------------------

    async def _resolve_handle(self, http: httpx.AsyncClient, session: Session, handle: str) -> str | None:
        """The DID of a handle, or None when it does not resolve (the mention stays plain text)."""
        summary = f"GET com.atproto.identity.resolveHandle {handle}"
        try:
            response = await self._send(
                http, session, "GET", "com.atproto.identity.resolveHandle", params={"handle": handle}
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, summary, posted=False) from exc
        if response.status_code == 200:
            did = response.json().get("did")
            return str(did) if did else None
        if response.status_code == 400:  # HandleNotFound, InvalidRequest (not a handle)
            return None
        raise self._http_error(response, summary, posted=False)

    async def facets(self, http: httpx.AsyncClient, session: Session, text: str) -> list[dict[str, Any]]:
        """Links, mentions and hashtags of `text` as app.bsky.richtext.facet values (UTF-8 byte offsets)."""
        found: list[tuple[texts.Span, Any]] = []
        for span in texts.find_urls(text):
            found.append((span, models.AppBskyRichtextFacet.Link(uri=span.value)))
        handles: dict[str, str | None] = {}
        for span in texts.find_mentions(text):
            handle = span.value.lower()
            if "@" in handle or "." not in handle:  # a fediverse address or a bare name: not a Bluesky handle
                continue
            if handle not in handles:
                handles[handle] = await self._resolve_handle(http, session, handle)
            if handles[handle]:
                found.append((span, models.AppBskyRichtextFacet.Mention(did=handles[handle])))
        for span in texts.find_hashtags(text):
            if texts.graphemes(span.value) <= MAX_TAG_GRAPHEMES:
                found.append((span, models.AppBskyRichtextFacet.Tag(tag=span.value)))
        found.sort(key=lambda item: item[0].start)
        facets = []
        for span, feature in found:
            start, end = span.byte_range(text)
            facet = models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end), features=[feature]
            )
            facets.append(as_record(facet))
        return facets

    async def _upload(self, http: httpx.AsyncClient, access: ChannelAccess, session: Session, item: MediaItem):
        summary = f"POST com.atproto.repo.uploadBlob ({item.mime_type}, {item.size} bytes)"
        try:
            data = await asyncio.to_thread(_read_file, item.path)
        except OSError as exc:
            raise PublishError(
                ErrorKind.PERMANENT,
                MESSAGES["media_unreadable"].format(detail=type(exc).__name__),
                code="media_unreadable",
                request=summary,
            ) from exc
        if self.max_image_bytes is not None and len(data) > self.max_image_bytes:
            # Some PDSes take it, but the Bluesky app shows no picture over 1,000,000 bytes (bsky.social refuses).
            raise PublishError(
                ErrorKind.PERMANENT,
                MESSAGES["media_too_big"].format(detail=f"{len(data):,} bytes, at most {self.max_image_bytes:,}"),
                code="media_too_big",
                request=summary,
            )
        mime_type = item.mime_type or mimetypes.guess_type(item.path)[0] or "application/octet-stream"
        try:
            response, session = await self._authed(
                http, access, session, "POST", "com.atproto.repo.uploadBlob", content=data, content_type=mime_type
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, summary, posted=False) from exc
        if response.status_code != 200:
            raise self._http_error(response, summary, posted=False)
        blob = response.json()["blob"]
        width, height = item.width, item.height
        if not (width and height):
            width, height = await asyncio.to_thread(_image_size, item.path)
        image = models.AppBskyEmbedImages.Image(
            alt=item.alt_text or "",
            image=models.blob_ref.BlobRef(mime_type=blob["mimeType"], size=blob["size"], ref=blob["ref"]),
            aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=width, height=height) if width and height else None,
        )
        return image, session

    def _record(
        self,
        text: str,
        facets: list[dict[str, Any]],
        langs: list[str] | None,
        reply: tuple[dict[str, str], dict[str, str]] | None,
        images: list[Any],
    ) -> dict[str, Any]:
        record = models.AppBskyFeedPost.Record(
            text=text,
            created_at=iso_now(),
            langs=langs or None,
            embed=models.AppBskyEmbedImages.Main(images=images) if images else None,
        )
        data = as_record(record)
        if facets:
            data["facets"] = facets
        if reply is not None:
            data["reply"] = {"root": reply[0], "parent": reply[1]}
        return data

    # Publishing --------------------------------------------------------------------------------------------

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        session = self.sessions.get(job)
        videos = [item for item in job.media if item.kind == MediaKind.VIDEO]
        if videos:
            # The video service (app.bsky.video.uploadVideo) is not built yet.
            raise PublishError(ErrorKind.PERMANENT, MESSAGES["video_unsupported"], code="video_unsupported")
        if len(job.media) > 4:
            raise PublishError(ErrorKind.PERMANENT, MESSAGES["too_many_media"], code="too_many_media")
        language = job.options.get("language")
        langs = [language] if isinstance(language, str) and language else list(language or [])[:3] or None
        parts = [job.text, *[str(part) for part in job.options.get("thread") or [] if str(part).strip()]]
        reply_control = job.options.get("reply_control")
        if not session.did:
            session = await self._renew(http, job, session)

        published: list[tuple[str, str]] = []  # (uri, cid) of each part, in order
        first_response: tuple[int, str] = (0, "")
        for index, text in enumerate(parts):
            rkey = record_key(job.idempotency_key, index, job.due_at)
            reply = None
            if published:
                root = {"uri": published[0][0], "cid": published[0][1]}
                reply = (root, {"uri": published[-1][0], "cid": published[-1][1]})
            try:
                # A re-send: the part may already be there (no upload, no second create).
                existing = await self._existing(http, session, rkey, text) if job.attempt > 1 else None
                if existing is None:
                    images = []
                    if index == 0:
                        for item in job.media:
                            image, session = await self._upload(http, job, session, item)
                            images.append(image)
                    facets = await self.facets(http, session, text)
                    record = self._record(text, facets, langs, reply, images)
                    gate = self._threadgate(session, rkey, reply_control) if index == 0 else None
                    existing, status, body, session = await self._create(http, job, session, rkey, record, text, gate)
                    if index == 0:
                        first_response = (status, body)
            except PublishError as error:
                if published and error.kind == ErrorKind.PERMANENT and not error.needs_reconnection:
                    error.message = MESSAGES["thread_incomplete"].format(published=len(published), detail=error.message)
                    error.code = "thread_incomplete"
                # A RETRYABLE failure after the first parts stays retryable: the re-send finds them by their
                # record keys and goes on with the rest.
                error.extra.setdefault("published", [uri for uri, _ in published])
                raise
            published.append(existing)

        root_uri = published[0][0]
        return Published(
            remote_id=root_uri,
            url=post_url(session.handle, root_uri),
            request=f"POST {session.service}/xrpc/com.atproto.repo.createRecord {POST} rkey="
            f"{split_uri(root_uri)[2]} ({len(parts)} part(s), {len(job.media)} picture(s))",
            response_status=first_response[0] or 200,
            response=first_response[1],
        )

    async def _get_record(self, http: httpx.AsyncClient, session: Session, collection: str, rkey: str):
        """The record's answer (uri, cid, value), or None when it does not exist."""
        response = await self._send(
            http,
            session,
            "GET",
            "com.atproto.repo.getRecord",
            params={"repo": session.did, "collection": collection, "rkey": rkey},
        )
        if response.status_code == 200:
            return response.json()
        if response.status_code == 400 and _error_of(response)[0] == "RecordNotFound":
            return None
        raise self._http_error(response, f"GET com.atproto.repo.getRecord {collection}/{rkey}", posted=False)

    async def _existing(self, http: httpx.AsyncClient, session: Session, rkey: str, text: str):
        """(uri, cid) of the post already at this record key, None if there is none."""
        try:
            found = await self._get_record(http, session, POST, rkey)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, f"GET com.atproto.repo.getRecord {POST}/{rkey}", posted=False) from exc
        if found is None:
            return None
        if (found.get("value") or {}).get("text") != text:
            raise PublishError(ErrorKind.PERMANENT, MESSAGES["record_key_taken"], code="record_key_taken")
        return str(found["uri"]), str(found["cid"])

    async def _create(
        self,
        http: httpx.AsyncClient,
        job: PublishJob,
        session: Session,
        rkey: str,
        record: dict,
        text: str,
        gate: dict | None,
    ) -> tuple[tuple[str, str], int, str, Session]:
        """Creates the post (and its threadgate in the same commit: both or neither)."""
        if gate is None:
            nsid = "com.atproto.repo.createRecord"
            body: dict[str, Any] = {"repo": session.did, "collection": POST, "rkey": rkey, "record": record}
        else:
            nsid = "com.atproto.repo.applyWrites"
            create = "com.atproto.repo.applyWrites#create"
            body = {
                "repo": session.did,
                "writes": [
                    {"$type": create, "collection": POST, "rkey": rkey, "value": record},
                    {"$type": create, "collection": THREADGATE, "rkey": rkey, "value": gate},
                ],
            }
        summary = f"POST {session.service}/xrpc/{nsid} {POST} rkey={rkey}" + (" + threadgate" if gate else "")
        try:
            response, session = await self._authed(http, job, session, "POST", nsid, body=body)
        except httpx.TransportError as exc:
            # No answer in time: the PDS is slow or gone, a read now would likely hang too. The engine reads the
            # channel back later, and a re-send is safe (same record key).
            raise self._transport_error(exc, summary, posted=True) from exc
        if response.status_code == 200:
            answer = response.json()
            if gate is not None:
                answer = answer["results"][0]
            return (str(answer["uri"]), str(answer["cid"])), 200, response.text[:300], session
        error = self._http_error(response, summary, posted=True)
        if error.kind == ErrorKind.AMBIGUOUS:
            # The PDS is answering: reading the record key tells whether the post is there (it answers 500, among
            # others, when the key is already taken by an earlier attempt).
            found = await self._check_after_failure(http, session, rkey, text)
            if found is not None:
                return found, 200, "", session
        raise error

    async def _check_after_failure(self, http: httpx.AsyncClient, session: Session, rkey: str, text: str):
        try:
            return await self._existing(http, session, rkey, text)
        except (httpx.HTTPError, PublishError):
            return None  # still ambiguous: the engine reads the channel back later

    def _threadgate(self, session: Session, rkey: str, control: Any) -> dict[str, Any] | None:
        """The app.bsky.feed.threadgate record for a reply control ("everyone" needs none)."""
        if control not in REPLY_CONTROLS or control == "everyone":
            return None
        allow: list[Any] = []  # "nobody"
        if control == "mentioned":
            allow = [models.AppBskyFeedThreadgate.MentionRule()]
        elif control == "following":
            allow = [models.AppBskyFeedThreadgate.FollowingRule()]
        post_uri = f"at://{session.did}/{POST}/{rkey}"
        return as_record(models.AppBskyFeedThreadgate.Record(post=post_uri, created_at=iso_now(), allow=allow))

    # Reading back and deleting -----------------------------------------------------------------------------

    async def _list_posts(self, http: httpx.AsyncClient, session: Session, limit: int = 100) -> list[dict]:
        response = await self._send(
            http,
            session,
            "GET",
            "com.atproto.repo.listRecords",
            params={"repo": session.did, "collection": POST, "limit": limit},
        )
        if response.status_code != 200:
            raise self._http_error(response, f"GET com.atproto.repo.listRecords {POST}", posted=False)
        return list(response.json().get("records") or [])

    async def recent_posts(self, http: httpx.AsyncClient, job: ChannelAccess) -> list[RemotePost]:
        """The account's latest post records (newest record keys first), straight from its repository."""
        session = self.sessions.get(job)
        posts = []
        for item in await self._list_posts(http, session):
            value = item.get("value") or {}
            posts.append(
                RemotePost(
                    remote_id=str(item["uri"]),
                    url=post_url(session.handle, str(item["uri"])),
                    text=str(value.get("text") or ""),
                    created_at=parse_time(value.get("createdAt")),
                )
            )
        posts.sort(key=lambda post: post.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return posts

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        """Deletes the post, its threadgate and the thread's further parts (this account's replies to it)."""
        try:
            did, collection, rkey = split_uri(remote_id)
        except ValueError as exc:
            raise PublishError(ErrorKind.PERMANENT, str(exc), code="invalid_post") from exc
        session = self.sessions.get(access)
        try:
            replies = [
                split_uri(str(item["uri"]))[2]
                for item in await self._list_posts(http, session)
                if ((item.get("value") or {}).get("reply") or {}).get("root", {}).get("uri") == remote_id
            ]
            targets = [(collection, rkey), (THREADGATE, rkey)] + [(POST, reply) for reply in replies]
            for target_collection, target_rkey in targets:
                summary = f"POST com.atproto.repo.deleteRecord {target_collection}/{target_rkey}"
                body = {"repo": did, "collection": target_collection, "rkey": target_rkey}
                response, session = await self._authed(
                    http, access, session, "POST", "com.atproto.repo.deleteRecord", body=body
                )
                # Deleting a record that is not there succeeds: a repeated delete is harmless.
                if response.status_code != 200:
                    raise self._http_error(response, summary, posted=False)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, f"delete {remote_id}", posted=False) from exc


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _image_size(path: str) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.width, image.height
    except (OSError, ValueError):
        return None, None
