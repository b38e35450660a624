"""Background jobs of the statistics (Django's tasks API): collecting one channel now, e-mailing due reports."""

from __future__ import annotations

import httpx
from django.tasks import task

from beffroi.insights.sync import sync_channel_now


@task
def collect_channel_now(channel_id: int) -> str:
    """The "collect now" button: runs the channel's sync until it has caught up. Returns the sync's status."""
    from beffroi.channels.models import Channel

    channel = Channel.objects.filter(pk=channel_id).select_related("organisation").first()
    if channel is None:
        return "gone"
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False) as http:
        return str(sync_channel_now(channel, http))


@task
def send_due_reports() -> int:
    """E-mails the weekly and monthly reports that are due. Returns the number of e-mails sent."""
    from beffroi.insights.reports import send_due_reports as send

    return send()
