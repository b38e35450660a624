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

    from beffroi.publishing.models import Post, PostComment

    post = Post.objects.select_related("author", "organisation").filter(pk=post_id).first()
    if post is None or post.author is None or not post.author.email:
        return 0
    rejection = post.comments.filter(kind=PostComment.Kind.REJECTED).select_related("author").last()
    link = settings.BASE_URL + post_url(post)  # the post's page: its thread and what to change
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


# In-app notifications -------------------------------------------------------------------------------------------


def post_url(post) -> str:
    from django.urls import reverse

    return reverse("post_detail", args=[post.organisation.slug, post.pk])


def _excerpt(text: str, length: int = 200) -> str:
    text = " ".join(text.split())
    return (text[:length].rstrip() + "…") if len(text) > length else text


def _members_only(organisation_id: int, users) -> list:
    """People who still belong to the organisation (someone who left hears nothing more of it)."""
    from beffroi.organisations.models import Membership

    users = [user for user in dict.fromkeys(users) if user is not None]
    members = set(
        Membership.objects.filter(organisation_id=organisation_id, user__in=users).values_list("user_id", flat=True)
    )
    return [user for user in users if user.pk in members]


def notify(recipients, *, post, verb: str, actor, text: str = "", detail: str = "") -> list:
    """One in-app notification per recipient about `post`, never to the person who acted."""
    from beffroi.publishing.models import Notification

    return [
        Notification.objects.create(
            recipient=user,
            organisation_id=post.organisation_id,
            actor=actor,
            verb=verb,
            post=post,
            text=_excerpt(text, 500),
            detail=detail[:200],
            url=post_url(post),
        )
        for user in _members_only(post.organisation_id, recipients)
        if actor is None or user.pk != actor.pk
    ]


def notify_approvers(post, pairs, actor) -> list:
    """Tells the people who may approve the pending steps of these (publication, step) pairs, in the app and by
    e-mail (sent once the transaction commits, by a background task)."""
    from django.db import transaction

    from beffroi.publishing.approvals import approvers_by_user
    from beffroi.publishing.models import Notification
    from beffroi.publishing.tasks import notify_approval_needed

    created = []
    for user, labels in approvers_by_user(post.organisation_id, pairs).items():
        created += notify(
            [user],
            post=post,
            verb=Notification.Verb.APPROVAL_NEEDED,
            actor=actor,
            text=str(post),
            detail=", ".join(label for label in labels if label),
        )
    ids = [notification.pk for notification in created]
    if ids:
        transaction.on_commit(lambda: notify_approval_needed.enqueue(ids))
    return created


def send_approval_requests(notification_ids: list[int]) -> int:
    """The e-mail "your approval is needed", one per notification, in the recipient's language."""
    from django.conf import settings

    from beffroi.publishing.models import Notification

    sent = 0
    for notification in Notification.objects.filter(pk__in=notification_ids, read_at__isnull=True).select_related(
        "recipient", "organisation", "post__author"
    ):
        recipient = notification.recipient
        if not recipient.email or notification.post is None:
            continue
        with translation.override(recipient.language or notification.organisation.language):
            body = "\n".join(
                [
                    _("Hello,"),
                    "",
                    notification.sentence,
                    "",
                    f"“{notification.post}”",
                    "",
                    _("Approve it or send it back with a comment: %(link)s")
                    % {"link": settings.BASE_URL + notification.url},
                ]
            )
            subject = _("Your approval is needed (%(organisation)s)") % {"organisation": notification.organisation.name}
            send_mail(subject, body, None, [recipient.email])
        sent += 1
    return sent
