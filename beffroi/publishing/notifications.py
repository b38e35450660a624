"""Telling people what happened to their posts."""

from __future__ import annotations

from collections import defaultdict

from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from beffroi.core.timezones import format_with_zone


def send_missed_notifications(publications) -> int:
    """One e-mail per author listing their posts that were not sent in time. Returns the number sent."""
    by_author = defaultdict(list)
    for publication in publications.select_related("post__author", "channel", "post__organisation"):
        author = publication.post.author
        if author is not None and author.email:
            by_author[author].append(publication)
    for author, items in by_author.items():
        language = author.language or items[0].post.organisation.language
        with translation.override(language):
            lines = [
                _("- “%(text)s” on %(channel)s, planned for %(when)s")
                % {
                    "text": str(p.post),
                    "channel": p.channel.display_name,
                    "when": format_with_zone(p.due_at, p.scheduled_tz or p.channel.effective_time_zone),
                }
                for p in items
            ]
            body = "\n".join(
                [
                    _("Hello,"),
                    "",
                    _(
                        "Beffroi could not publish these posts within the allowed delay after their planned time "
                        "(the service was stopped or the network unreachable). They were not sent:"
                    ),
                    "",
                    *lines,
                    "",
                    _("You can schedule them again from the list of publications."),
                ]
            )
            send_mail(_("Posts not published in time"), body, None, [author.email])
    return len(by_author)


def send_rejection_notification(post_id: int) -> int:
    from django.conf import settings
    from django.urls import reverse

    from beffroi.publishing.models import Post, PostComment

    post = Post.objects.select_related("author", "organisation").filter(pk=post_id).first()
    if post is None or post.author is None or not post.author.email:
        return 0
    rejection = post.comments.filter(kind=PostComment.Kind.REJECTED).select_related("author").last()
    link = settings.BASE_URL + reverse("publications", args=[post.organisation.slug]) + "?tab=drafts"
    with translation.override(post.author.language or post.organisation.language):
        body = "\n".join(
            [
                _("Hello,"),
                "",
                _("%(validator)s sent your post back to the drafts:") % {"validator": _person(rejection)},
                "",
                f"“{post}”",
                "",
                _("Their comment: %(comment)s") % {"comment": rejection.body if rejection else ""},
                "",
                _("Change it and submit it again: %(link)s") % {"link": link},
            ]
        )
        send_mail(_("Your post was sent back for changes"), body, None, [post.author.email])
    return 1


def _person(comment) -> str:
    if comment is None or comment.author is None:
        return _("A validator")
    return comment.author.full_name or comment.author.email
