"""Background jobs of the channels domain (Django's tasks API)."""

from __future__ import annotations

from django.tasks import task


@task
def notify_channel_needs_reconnection(channel_id: int) -> int:
    """E-mails the people who manage this channel that it must be reconnected. Returns the number e-mailed."""
    from beffroi.channels.health import send_reconnection_alert
    from beffroi.channels.models import Channel

    channel = Channel.objects.filter(pk=channel_id).select_related("organisation").first()
    if channel is None or channel.status != Channel.Status.NEEDS_RECONNECTION:
        return 0
    return send_reconnection_alert(channel)
