"""Channel queues: weekly slots, and "add to queue" = the next slot no publication already holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.publishing.models import Publication, QueueSlot
from beffroi.publishing.states import State
from beffroi.publishing.timing import resolve_local_time

HORIZON_WEEKS = 26  # how far ahead a free slot is looked for
# States that hold a slot: what is (or will be) published at that time.
HOLDING = [State.AWAITING_APPROVAL, State.SCHEDULED, State.PUBLISHING, State.PUBLISHED, State.UNKNOWN]
# Not within this many minutes from now: the person needs time to change their mind.
MINIMUM_NOTICE = timedelta(minutes=5)


def next_free_slot(channel: Channel, *, after: datetime | None = None, taken: set[datetime] | None = None) -> datetime:
    """The wall-clock time (naive, in the channel's zone) of the channel's next free queue slot.

    A slot that falls in the spring-forward gap that week is skipped; one in the repeated hour takes the first
    occurrence. `taken` holds UTC instants already promised in this same operation.
    """
    slots = list(channel.queue_slots.all())
    if not slots:
        raise ValidationError(
            _("“%(name)s” has no queue slots yet: add some in the channel's settings.") % {"name": channel.display_name}
        )
    zone_name = channel.effective_time_zone
    zone = ZoneInfo(zone_name)
    now = after or timezone.now()
    start = timezone.localtime(now, zone)
    held = set(
        Publication.objects.filter(
            channel=channel, state__in=HOLDING, due_at__gte=now, due_at__lte=now + timedelta(weeks=HORIZON_WEEKS)
        ).values_list("due_at", flat=True)
    ) | (taken or set())
    for day in range(HORIZON_WEEKS * 7):
        date = start.date() + timedelta(days=day)
        for slot in (s for s in slots if s.weekday == date.weekday()):
            local = datetime.combine(date, slot.time)
            try:
                due = resolve_local_time(local, zone_name).due_at
            except ValidationError:
                continue  # that slot does not exist this week (clocks going forward)
            if due < now + MINIMUM_NOTICE or due in held:
                continue
            return local
    raise ValidationError(
        _("The queue of “%(name)s” is full for the next %(weeks)s weeks: add slots or choose a time.")
        % {"name": channel.display_name, "weeks": HORIZON_WEEKS}
    )


def set_slots(channel: Channel, slots: list[tuple[int, str]]) -> list[QueueSlot]:
    """Replaces the channel's weekly slots ((weekday 0–6, "HH:MM"), duplicates ignored)."""
    parsed = set()
    for weekday, text in slots:
        try:
            hour, minute = (int(part) for part in text.split(":"))
            moment = datetime(2000, 1, 1, hour, minute).time()
        except (ValueError, TypeError) as error:
            raise ValidationError({"slots": _("“%(value)s” is not a time (HH:MM).") % {"value": text}}) from error
        if not 0 <= int(weekday) <= 6:
            raise ValidationError({"slots": _("Unknown day.")})
        parsed.add((int(weekday), moment))
    channel.queue_slots.all().delete()
    return QueueSlot.objects.bulk_create(
        [QueueSlot(channel=channel, weekday=weekday, time=moment) for weekday, moment in sorted(parsed)]
    )
