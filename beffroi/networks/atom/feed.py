"""The public Atom feed of an Atom channel (RFC 4287), built with Django's Atom1Feed generator."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from django.template.defaultfilters import linebreaksbr
from django.utils import feedgenerator, timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET

from beffroi.channels.models import Channel
from beffroi.networks.atom.connector import feed_url
from beffroi.publishing.models import Publication
from beffroi.publishing.states import State

ENTRIES = 50
TITLE_LENGTH = 90


def entry_title(text: str) -> str:
    """The first line, shortened at a word: feed readers show titles in lists."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) <= TITLE_LENGTH:
        return line or "…"
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


@require_GET
def atom_feed(request, token: str):
    channel = (
        Channel.objects.filter(network="atom", remote_id=token)
        .exclude(status=Channel.Status.DISABLED)
        .select_related("organisation")
        .first()
    )
    if channel is None:
        raise Http404
    self_url = feed_url(token)
    publications = list(
        Publication.objects.filter(channel=channel, state=State.PUBLISHED)
        .select_related("post")
        .prefetch_related("post__variants", "post__media__media")
        .order_by("-published_at", "-pk")[:ENTRIES]
    )
    updated = publications[0].published_at if publications else channel.created_at
    feed = feedgenerator.Atom1Feed(
        title=channel.display_name,
        link=settings.BASE_URL + "/",
        description=channel.config.get("subtitle", ""),
        subtitle=channel.config.get("subtitle") or None,
        feed_url=self_url,
        feed_guid=f"{self_url}",
        author_name=channel.organisation.name,
        language=channel.organisation.language or "fr",
    )
    for publication in publications:
        post = publication.post
        text = post.text_for(channel.pk)
        uses = post.media_for(channel.pk)
        feed.add_item(
            title=entry_title(text),
            link=post.link or f"{self_url}#{publication.remote_id.rsplit(':', 1)[-1]}",
            description=linebreaksbr(escape(text)),
            unique_id=publication.remote_id,
            unique_id_is_permalink=False,
            pubdate=publication.published_at,
            updateddate=max(publication.published_at, post.updated_at),
            author_name=channel.organisation.name,
            enclosures=[
                feedgenerator.Enclosure(use.media.public_url, str(use.media.size), use.media.mime_type) for use in uses
            ],
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    response["Last-Modified"] = (updated or timezone.now()).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response
