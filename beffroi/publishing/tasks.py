"""Background jobs of the publishing domain (Django's tasks API)."""

from __future__ import annotations

from django.tasks import task


@task
def notify_missed_publications(publication_ids: list[int]) -> int:
    """E-mails each author the posts that were not sent in time. Returns the number of e-mails sent."""
    from beffroi.publishing.models import Publication
    from beffroi.publishing.notifications import send_missed_notifications

    return send_missed_notifications(Publication.objects.filter(pk__in=publication_ids))


@task
def notify_rejection(post_id: int) -> int:
    """E-mails the author of a rejected post the validator's comment. Returns the number of e-mails sent."""
    from beffroi.publishing.notifications import send_rejection_notification

    return send_rejection_notification(post_id)


@task
def notify_approval_needed(notification_ids: list[int]) -> int:
    """E-mails each approver that a post awaits their approval. Returns the number of e-mails sent."""
    from beffroi.publishing.notifications import send_approval_requests

    return send_approval_requests(notification_ids)
