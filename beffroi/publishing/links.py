"""Link previews in the composer: the title, description and picture a link's page announces (Open Graph), as
networks show them under a post.

The address is typed by a person, so it is fetched like any user-given server: public addresses only (checked
again at every redirect), a few seconds, a few hundred kilobytes, HTML only. A failure gives no preview, never an
error in the composer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache

from beffroi.networks.base import ConnectError
from beffroi.networks.servers import check_public_host

log = logging.getLogger(__name__)

MAX_BYTES = 512 * 1024
MAX_REDIRECTS = 3
TIMEOUT_S = 5.0
CACHE_S = 24 * 3600
USER_AGENT = "Beffroi link preview (+https://github.com/beffroi)"


@dataclass(frozen=True)
class LinkPreview:
    url: str
    title: str
    description: str = ""
    image: str = ""
    site_name: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class _MetaParser(HTMLParser):
    """Reads <meta property="og:…">, <meta name="description"> and <title> from the page's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"].strip())
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse_preview(url: str, html: str) -> LinkPreview | None:
    parser = _MetaParser()
    parser.feed(html)
    meta = parser.meta
    title = meta.get("og:title") or meta.get("twitter:title") or " ".join(parser.title.split())
    if not title:
        return None
    image = meta.get("og:image") or meta.get("twitter:image") or ""
    if image:
        image = urljoin(url, image)
        if urlsplit(image).scheme not in ("http", "https"):
            image = ""
    return LinkPreview(
        url=meta.get("og:url") or url,
        title=title[:300],
        description=(meta.get("og:description") or meta.get("description") or "")[:500],
        image=image,
        site_name=meta.get("og:site_name", "")[:100],
    )


def _allow_private() -> bool:
    return bool(getattr(settings, "LINK_PREVIEW_ALLOW_PRIVATE", False))


def _fetch(url: str, http: httpx.Client) -> tuple[str, str] | None:
    """The final address and up to MAX_BYTES of its HTML, each hop checked; None when it is not a public page."""
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if not _allow_private():
            check_public_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        with http.stream("GET", url, headers={"User-Agent": USER_AGENT, "Accept": "text/html"}) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
                return None
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_BYTES:
                    break
            return url, body[:MAX_BYTES].decode(response.encoding or "utf-8", errors="replace")
    return None


def link_preview(url: str, http: httpx.Client | None = None) -> LinkPreview | None:
    """The preview of a link, cached for a day (previews are looked up as people type)."""
    url = url.strip()
    if not url:
        return None
    key = f"link-preview:{url}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    own = http is None
    http = http or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
    try:
        fetched = _fetch(url, http)
        preview = parse_preview(*fetched) if fetched else None
    except (ConnectError, httpx.HTTPError, ValueError) as error:
        log.info("no link preview for %s: %s", urlsplit(url).hostname, error)
        preview = None
    finally:
        if own:
            http.close()
    cache.set(key, preview or "", CACHE_S)
    return preview
