"""Database side of the worker: claim due publications, write fenced results, sweep.

These functions are synchronous and short; the dispatcher runs them on its one database thread and never
holds a transaction across a network call.

Claiming: PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED`, so any number of workers on any hosts share the
queue; SQLite takes the write lock at BEGIN (transaction_mode IMMEDIATE), so claims are serialized and the
conditional UPDATE is a compare-and-set. A partial unique index allows one in-flight publish per channel.
Every claim increments the publication's fence; a result is written only while the fence still matches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.core.vault import VaultError
from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, Published, PublishError, PublishJob
from beffroi.publishing.models import Attempt, Publication
from beffroi.publishing.states import State, Trigger, check

MAX_ATTEMPTS = 8
LOCAL_RATE_LIMIT = "local_rate_limit"
NOT_STARTED = "not_started"  # claimed ahead, then the worker stopped before calling the network
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 15 * 60.0


@dataclass
class Outcome:
    """What happened to one claimed publication, as the dispatcher hands it to `record_outcomes`."""

    job: PublishJob
    published: Published | None = None
    error: PublishError | None = None
    finished_at: datetime | None = None
    credentials: dict | None = None  # renewed by the connector during the call: to store


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off with full jitter (attempt 1 → up to 5 s, 2 → 10 s, … capped at 15 min)."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))  # noqa: S311


def _due_queryset(now: datetime):
    inflight = Publication.objects.filter(channel_id=OuterRef("channel_id"), state=State.PUBLISHING)
    return (
        Publication.objects.filter(state=State.SCHEDULED, run_at__lte=now, channel__status=Channel.Status.ACTIVE)
        .filter(Q(channel__paused_until__isnull=True) | Q(channel__paused_until__lte=now))
        # Too late to send: left for the sweep, which marks it missed and tells the author.
        .filter(Q(due_at__isnull=True) | Q(due_at__gte=now - F("channel__max_lateness")))
        .exclude(Exists(inflight))
        .order_by("run_at", "pk")
    )


def claim_due(worker_id: str, limit: int, lease_s: float, now: datetime | None = None) -> list[PublishJob]:
    """Claims up to `limit` due publications (at most one per channel) and commits the write-ahead attempts."""
    if limit <= 0:
        return []
    check("claim", Trigger.WORKER)
    now = now or timezone.now()
    with transaction.atomic():
        candidates = _due_queryset(now)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        rows = list(candidates.values_list("pk", "channel_id", "fence", "attempts")[: limit * 3])
        chosen, seen_channels = [], set()
        for pk, channel_id, fence, attempts in rows:
            if channel_id not in seen_channels:
                seen_channels.add(channel_id)
                chosen.append((pk, fence, attempts))
            if len(chosen) >= limit:
                break
        if not chosen:
            return []
        lease_until = now + timedelta(seconds=lease_s)
        claim = {"state": State.PUBLISHING, "lease_owner": worker_id, "lease_until": lease_until, "claimed_at": now}
        claimed = []
        try:
            with transaction.atomic():
                count = Publication.objects.filter(pk__in=[c[0] for c in chosen], state=State.SCHEDULED).update(
                    fence=F("fence") + 1, attempts=F("attempts") + 1, **claim
                )
                if count != len(chosen):
                    raise IntegrityError("some rows moved")
            claimed = chosen
        except IntegrityError:
            # Another worker claimed one of these channels at the same moment: take the rest one by one.
            for pk, fence, attempts in chosen:
                try:
                    with transaction.atomic():
                        if Publication.objects.filter(pk=pk, state=State.SCHEDULED, fence=fence).update(
                            fence=F("fence") + 1, attempts=F("attempts") + 1, **claim
                        ):
                            claimed.append((pk, fence, attempts))
                except IntegrityError:
                    continue
        Attempt.objects.bulk_create(
            [
                Attempt(publication_id=pk, number=attempts + 1, fence=fence + 1, worker=worker_id, started_at=now)
                for pk, fence, attempts in claimed
            ]
        )
        return _jobs([pk for pk, _fence, _attempts in claimed], now)


def _jobs(publication_ids: list[int], now: datetime) -> list[PublishJob]:
    publications = (
        Publication.objects.filter(pk__in=publication_ids)
        .select_related("channel", "channel__organisation", "post")
        .prefetch_related("post__variants", "post__media__media")
    )
    jobs = []
    for publication in publications:
        post, channel = publication.post, publication.channel
        variant = post.variant_for(channel.pk)
        try:
            credentials = channel.credentials
        except VaultError:
            credentials = {"_unreadable": True}
        options = {"link": post.link, "first_comment": post.first_comment} if post.link or post.first_comment else {}
        if variant is not None:
            options.update(variant.options)
        jobs.append(
            PublishJob(
                publication_id=publication.pk,
                fence=publication.fence,
                attempt=publication.attempts,
                channel_id=channel.pk,
                network=channel.network,
                config=dict(channel.config),
                credentials=credentials,
                text=post.text_for(channel.pk),
                idempotency_key=publication.idempotency_key,
                due_at=publication.due_at,
                claimed_at=now,
                media=_media_items(post, channel.pk),
                options=options,
            )
        )
    return jobs


def _media_items(post, channel_id: int) -> list[MediaItem]:
    return [
        MediaItem(
            kind=use.media.kind,
            mime_type=use.media.mime_type,
            size=use.media.size,
            path=use.media.file.path,
            url=use.media.public_url,
            width=use.media.width,
            height=use.media.height,
            duration_s=use.media.duration_s,
            alt_text=use.alt_text,
        )
        for use in post.media_for(channel_id)
    ]


def extend_leases(worker_id: str, fences: dict[int, int], lease_s: float) -> int:
    """Heartbeat: pushes back the lease of the publications this worker still holds."""
    if not fences:
        return 0
    until = timezone.now() + timedelta(seconds=lease_s)
    extended = 0
    with transaction.atomic():
        for pk, fence in fences.items():
            extended += Publication.objects.filter(
                pk=pk, fence=fence, state=State.PUBLISHING, lease_owner=worker_id
            ).update(lease_until=until)
    return extended


def record_outcomes(outcomes: list[Outcome]) -> dict[str, int]:
    """Writes results in one transaction; each write is fenced, so a worker whose claim was taken over
    (lease expired) cannot overwrite what happened since. Returns counts by result."""
    counts = {"published": 0, "retry": 0, "held": 0, "failed": 0, "unknown": 0, "fenced": 0}
    now = timezone.now()
    with transaction.atomic():
        _store_renewed_credentials(outcomes)
        successes = [o for o in outcomes if o.published is not None]
        if successes:
            _record_successes(successes, now, counts)
        for outcome in outcomes:
            if outcome.published is not None:
                continue
            job = outcome.job
            finished = outcome.finished_at or now
            mine = Publication.objects.filter(pk=job.publication_id, fence=job.fence, state=State.PUBLISHING)
            attempt = Attempt.objects.filter(publication_id=job.publication_id, fence=job.fence)
            error = outcome.error
            assert error is not None
            attempt_fields = {
                "finished_at": finished,
                "request": error.request,
                "response_status": error.response_status,
                "response": error.response[:2000],
                "error": error.message,
            }
            if error.code in (LOCAL_RATE_LIMIT, NOT_STARTED):
                # Nothing reached the network: not an attempt. Back in the queue for when the budget allows.
                moved = mine.update(
                    state=check("retry", Trigger.WORKER).target,
                    run_at=now + timedelta(seconds=error.retry_after or 0.0),
                    attempts=F("attempts") - 1,
                    lease_owner="",
                    lease_until=None,
                    updated_at=now,
                )
                if moved:
                    attempt.delete()
                counts["retry" if moved else "fenced"] += 1
            elif error.kind == ErrorKind.RETRYABLE and job.attempt < MAX_ATTEMPTS:
                delay = max(error.retry_after or 0.0, backoff_seconds(job.attempt))
                moved = mine.update(
                    state=check("retry", Trigger.WORKER).target,
                    run_at=now + timedelta(seconds=delay),
                    last_error=error.message,
                    last_error_code=error.code,
                    lease_owner="",
                    lease_until=None,
                    updated_at=now,
                )
                if moved and error.retry_after:
                    Channel.objects.filter(pk=job.channel_id).update(
                        paused_until=now + timedelta(seconds=error.retry_after)
                    )
                attempt.update(outcome=Attempt.Outcome.RETRY if moved else Attempt.Outcome.FENCED, **attempt_fields)
                counts["retry" if moved else "fenced"] += 1
            elif error.kind == ErrorKind.AMBIGUOUS:
                moved = mine.update(
                    state=check("lose_track", Trigger.WORKER).target,
                    unknown_since=now,
                    run_at=now,
                    reconcile_checks=0,
                    last_error=error.message,
                    last_error_code=error.code,
                    lease_owner="",
                    lease_until=None,
                    updated_at=now,
                )
                attempt.update(outcome=Attempt.Outcome.AMBIGUOUS if moved else Attempt.Outcome.FENCED, **attempt_fields)
                counts["unknown" if moved else "fenced"] += 1
            elif error.needs_reconnection:
                # The network refused the authorisation, so it did not publish: hold the post (back in the queue,
                # where the claim skips a channel that is not active) until someone reconnects the channel.
                moved = mine.update(
                    state=check("retry", Trigger.WORKER).target,
                    run_at=now,
                    last_error=error.message,
                    last_error_code=error.code or "unauthorised",
                    lease_owner="",
                    lease_until=None,
                    updated_at=now,
                )
                if moved:
                    _mark_needs_reconnection(job.channel_id, error.message)
                attempt.update(outcome=Attempt.Outcome.RETRY if moved else Attempt.Outcome.FENCED, **attempt_fields)
                counts["held" if moved else "fenced"] += 1
            else:
                message = error.message
                if error.kind == ErrorKind.RETRYABLE:
                    message = f"{message} (gave up after {job.attempt} attempts)"
                # A thread whose first part went out before a later part was refused: say where it is.
                partly_published = {}
                if error.extra.get("remote_id"):
                    partly_published = {
                        "remote_id": str(error.extra["remote_id"])[:255],
                        "remote_url": str(error.extra.get("url") or "")[:2000],
                    }
                moved = mine.update(
                    state=check("fail", Trigger.WORKER).target,
                    last_error=message,
                    last_error_code=error.code,
                    lease_owner="",
                    lease_until=None,
                    updated_at=now,
                    **partly_published,
                )
                attempt.update(outcome=Attempt.Outcome.FAILED if moved else Attempt.Outcome.FENCED, **attempt_fields)
                counts["failed" if moved else "fenced"] += 1
    return counts


def _store_renewed_credentials(outcomes: list[Outcome]) -> None:
    """Renewed sessions reach the database, so another worker (or a restart) does not log in again."""
    renewed = {o.job.channel_id: o.credentials for o in outcomes if o.credentials}
    for channel in Channel.objects.filter(pk__in=renewed).select_for_update():
        channel.store_credentials(renewed[channel.pk])
        channel.save(update_fields=["credentials_encrypted", "updated_at"])


def _mark_needs_reconnection(channel_id: int, reason: str) -> None:
    """Only the first refusal changes the channel and alerts its admins (level-triggered: no alert storm)."""
    from beffroi.channels.tasks import notify_channel_needs_reconnection

    changed = Channel.objects.filter(pk=channel_id, status=Channel.Status.ACTIVE).update(
        status=Channel.Status.NEEDS_RECONNECTION, status_reason=reason[:500], updated_at=timezone.now()
    )
    if changed:
        transaction.on_commit(lambda: notify_channel_needs_reconnection.enqueue(channel_id))


def _record_successes(successes: list[Outcome], now: datetime, counts: dict[str, int]) -> None:
    """Successes are most of the traffic: one prepared statement run for the whole batch (executemany), each
    row still fenced by its WHERE clause, instead of building two ORM queries per publication."""
    target = check("succeed", Trigger.WORKER).target
    field = Publication._meta.get_field

    def db(name: str, value):
        return field(name).get_db_prep_value(value, connection)

    publication_rows, by_id = [], {}
    for outcome in successes:
        job, result = outcome.job, outcome.published
        finished = outcome.finished_at or now
        late_by = max(timedelta(0), finished - job.due_at) if job.due_at else None
        by_id[job.publication_id] = outcome
        publication_rows.append(
            (
                target,
                result.remote_id,
                result.url[:2000],
                db("published_at", finished),
                db("late_by", late_by),
                db("updated_at", now),
                job.publication_id,
                job.fence,
                State.PUBLISHING,
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(
            # Table names come from the models, values are parameters.
            f"UPDATE {Publication._meta.db_table} SET state = %s, remote_id = %s, remote_url = %s, "  # noqa: S608
            "published_at = %s, late_by = %s, last_error = '', last_error_code = '', lease_owner = '', "
            "lease_until = NULL, updated_at = %s WHERE id = %s AND fence = %s AND state = %s",
            publication_rows,
        )
        held = {
            pk
            for pk, fence, remote_id in Publication.objects.filter(pk__in=by_id, state=target).values_list(
                "pk", "fence", "remote_id"
            )
            if fence == by_id[pk].job.fence and remote_id == by_id[pk].published.remote_id
        }
        attempt_field = Attempt._meta.get_field
        cursor.executemany(
            f"UPDATE {Attempt._meta.db_table} SET outcome = %s, finished_at = %s, request = %s, "  # noqa: S608
            "response_status = %s, response = %s, remote_id = %s, remote_url = %s "
            "WHERE publication_id = %s AND fence = %s",
            [
                (
                    Attempt.Outcome.SUCCEEDED if pk in held else Attempt.Outcome.FENCED,
                    attempt_field("finished_at").get_db_prep_value(o.finished_at or now, connection),
                    o.published.request,
                    o.published.response_status,
                    o.published.response[:2000],
                    o.published.remote_id,
                    o.published.url[:2000],
                    pk,
                    o.job.fence,
                )
                for pk, o in by_id.items()
            ],
        )
    counts["published"] += len(held)
    counts["fenced"] += len(successes) - len(held)


def release_expired_leases(now: datetime | None = None) -> int:
    """A publication whose worker stopped renewing its lease may be live: unknown, never back to scheduled."""
    now = now or timezone.now()
    step = check("lose_track", Trigger.SWEEPER)
    with transaction.atomic():
        expired = list(
            Publication.objects.filter(state__in=step.sources, lease_until__lt=now).values_list("pk", "fence")
        )
        moved = 0
        for pk, fence in expired:
            if Publication.objects.filter(pk=pk, fence=fence, state=State.PUBLISHING, lease_until__lt=now).update(
                state=step.target,
                unknown_since=now,
                run_at=now,
                reconcile_checks=0,
                last_error="The worker stopped while publishing; checking on the network before anything else.",
                last_error_code="lease_expired",
                lease_owner="",
                lease_until=None,
                updated_at=now,
            ):
                Attempt.objects.filter(publication_id=pk, fence=fence, outcome=Attempt.Outcome.PENDING).update(
                    outcome=Attempt.Outcome.AMBIGUOUS, finished_at=now, error="lease expired"
                )
                moved += 1
    return moved


def mark_missed(now: datetime | None = None) -> list[int]:
    """Scheduled publications later than their channel's maximum lateness are not sent (their author is told)."""
    now = now or timezone.now()
    step = check("miss", Trigger.SWEEPER)
    late = Publication.objects.filter(state__in=step.sources, due_at__lt=now - F("channel__max_lateness"))
    ids = list(late.values_list("pk", flat=True)[:1000])
    if not ids:
        return []
    with transaction.atomic():
        Publication.objects.filter(pk__in=ids, state__in=step.sources).update(
            state=step.target,
            run_at=None,
            last_error="Not published: Beffroi could not send it within the allowed delay after its time.",
            last_error_code="missed",
            updated_at=now,
        )
    return ids


# Reconciliation ---------------------------------------------------------------------------------------------

# Between two read-backs of a channel that did not show the post: the network may be slow to list it.
RECONCILE_QUIET_S = 60.0
# How far around the claim a post found on the network may have been created to count as ours.
RECONCILE_WINDOW = timedelta(minutes=15)


def unknown_due_for_check(limit: int, now: datetime | None = None) -> list[PublishJob]:
    """Unknown publications to read back now (first check at once, later ones after a quiet period)."""
    now = now or timezone.now()
    # For an unknown publication, run_at is when to read the channel back next.
    candidates = Publication.objects.filter(state=State.UNKNOWN, run_at__lte=now)
    ids = list(candidates.order_by("run_at", "pk").values_list("pk", flat=True)[:limit])
    return _jobs(ids, now) if ids else []


def evidence_of_success(publication_id: int) -> Attempt | None:
    """An attempt that got the network's answer (even one fenced out) proves the post exists."""
    return (
        Attempt.objects.filter(publication_id=publication_id, outcome__in=["succeeded", "fenced"])
        .exclude(remote_id="")
        .first()
    )


def record_reconciliation(
    job: PublishJob,
    *,
    found_id: str | None,
    found_url: str = "",
    found_at: datetime | None = None,
    idempotent_resend_is_safe: bool = False,
) -> str:
    """Applies what reading the channel back showed. Returns the new state (or "unknown" if unchanged)."""
    now = timezone.now()
    mine = Publication.objects.filter(pk=job.publication_id, state=State.UNKNOWN)
    with transaction.atomic():
        if found_id:
            moved = mine.update(
                state=check("reconcile_found", Trigger.SWEEPER).target,
                remote_id=found_id,
                remote_url=found_url[:2000],
                published_at=found_at or now,
                late_by=max(timedelta(0), (found_at or now) - job.due_at) if job.due_at else None,
                last_error="",
                last_error_code="",
                updated_at=now,
            )
            return State.PUBLISHED if moved else State.UNKNOWN
        publication = mine.values("reconcile_checks").first()
        if publication is None:
            return State.UNKNOWN
        checks = publication["reconcile_checks"] + 1
        if idempotent_resend_is_safe or checks >= 2:
            moved = mine.update(
                state=check("reconcile_absent", Trigger.SWEEPER).target,
                run_at=now,
                reconcile_checks=checks,
                last_error="Not found on the network after checking: sending it again.",
                last_error_code="reconciled_absent",
                updated_at=now,
            )
            return State.SCHEDULED if moved else State.UNKNOWN
        mine.update(reconcile_checks=checks, run_at=now + timedelta(seconds=RECONCILE_QUIET_S), updated_at=now)
        return State.UNKNOWN


def give_up_check(job: PublishJob, reason: str) -> str:
    """The network cannot be read back for this kind of post (an Instagram story): a person has to look. Never
    sent again blindly: it may be online."""
    now = timezone.now()
    moved = Publication.objects.filter(pk=job.publication_id, state=State.UNKNOWN).update(
        state=check("reconcile_give_up", Trigger.SWEEPER).target,
        last_error=reason[:1000],
        last_error_code="cannot_check",
        run_at=None,
        updated_at=now,
    )
    return State.FAILED if moved else State.UNKNOWN


def postpone_check(job: PublishJob, reason: str) -> None:
    """Reading the channel back failed (network down…): try again after the quiet period."""
    now = timezone.now()
    Publication.objects.filter(pk=job.publication_id, state=State.UNKNOWN).update(
        run_at=now + timedelta(seconds=RECONCILE_QUIET_S), last_error=reason[:1000], updated_at=now
    )


# Temporary posts ----------------------------------------------------------------------------------------------

REMOVAL_LEASE = timedelta(minutes=2)


def claim_removals(limit: int, now: datetime | None = None) -> list[tuple[int, ChannelAccess, str]]:
    """Published temporary posts whose end time came, leased so one worker removes each (a network's delete is
    idempotent, so a removal repeated after a crash does no harm)."""
    now = now or timezone.now()
    due = list(
        Publication.objects.filter(state=State.PUBLISHED, remove_at__lte=now)
        .filter(Q(removal_lease_until__isnull=True) | Q(removal_lease_until__lt=now))
        .values_list("pk", flat=True)[:limit]
    )
    claimed = []
    for pk in due:
        taken = (
            Publication.objects.filter(pk=pk, state=State.PUBLISHED)
            .filter(Q(removal_lease_until__isnull=True) | Q(removal_lease_until__lt=now))
            .update(removal_lease_until=now + REMOVAL_LEASE)
        )
        if taken:
            publication = Publication.objects.select_related("channel").get(pk=pk)
            channel = publication.channel
            try:
                credentials = channel.credentials
            except VaultError:
                credentials = {}
            claimed.append(
                (
                    pk,
                    ChannelAccess(channel.pk, channel.network, dict(channel.config), credentials),
                    publication.remote_id,
                )
            )
    return claimed


def record_removal(publication_id: int, error: PublishError | None) -> str:
    """Removed → deleted. A retryable failure tries again after a back-off; a refusal keeps the post online and
    says why (a person decides)."""
    now = timezone.now()
    mine = Publication.objects.filter(pk=publication_id, state=State.PUBLISHED)
    if error is None:
        moved = mine.update(
            state=check("expire", Trigger.SWEEPER).target, removal_lease_until=None, remove_at=None, updated_at=now
        )
        return State.DELETED if moved else State.PUBLISHED
    if error.kind == ErrorKind.PERMANENT:
        mine.update(
            remove_at=None,
            removal_lease_until=None,
            last_error=f"Not removed at its end time: {error.message}"[:1000],
            last_error_code="removal_refused",
            updated_at=now,
        )
    else:
        mine.update(
            remove_at=now + timedelta(seconds=max(error.retry_after or 0.0, backoff_seconds(2))),
            removal_lease_until=None,
            updated_at=now,
        )
    return State.PUBLISHED
