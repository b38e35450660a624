"""Operations on posts and publications: create, schedule, reschedule, cancel, edit.

Each one validates everything first, then writes in one transaction; every state change is a conditional
update on the current state (states.TRANSITIONS), so a publication the worker has just claimed cannot be
changed underneath it — the person gets a clear message instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.core.timezones import format_with_zone
from beffroi.media.models import MediaFile, PostMedia, media_is_public, public_media_base
from beffroi.networks.capabilities import Feature
from beffroi.networks.registry import capabilities_for, connector_for
from beffroi.networks.validation import check_post
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Action
from beffroi.publishing.approvals import Chains, awaiting_publications, decision_for, visible_post
from beffroi.publishing.duplicates import Planned, find_duplicates
from beffroi.publishing.models import (
    Notification,
    Post,
    PostComment,
    PostEvent,
    Publication,
    StepApproval,
    Variant,
    fingerprint,
)
from beffroi.publishing.notifications import notify, notify_approvers
from beffroi.publishing.states import LOCKED_FOR_EDITING, State, TransitionRefused, Trigger, check
from beffroi.publishing.tasks import notify_rejection
from beffroi.publishing.timing import resolve_local_time

# A time "now" typed in a form reaches the server a little later: that much in the past is still "now".
PAST_TOLERANCE = timedelta(minutes=1)


def transition(publication: Publication, name: str, trigger: Trigger, **changes) -> None:
    """Moves one publication along a declared transition, only if it is still in a source state."""
    step = check(name, trigger)
    updated = Publication.objects.filter(pk=publication.pk, state__in=step.sources).update(
        state=step.target, version=F("version") + 1, updated_at=timezone.now(), **changes
    )
    if updated != 1:
        publication.refresh_from_db(fields=["state"])
        raise TransitionRefused(publication.state)
    publication.refresh_from_db()


def _refused_message(state: str) -> str:
    if state == State.PUBLISHING:
        return _("This post is being published right now and can no longer be changed.")
    if state in (State.PUBLISHED, State.UNKNOWN):
        return _("This post is already on the network (or may already be): it can no longer be changed here.")
    return _("This publication changed in the meantime (now: %(state)s). Reload the page.") % {
        "state": State(state).label
    }


def _check_channels(membership: Membership, channel_ids: Iterable[int]) -> list[Channel]:
    ids = list(dict.fromkeys(channel_ids))
    if not ids:
        raise ValidationError({"channels": _("Choose at least one channel.")})
    channels = {c.pk: c for c in Channel.objects.visible_to(membership).filter(pk__in=ids)}
    missing = [i for i in ids if i not in channels]
    if missing:
        raise ValidationError({"channels": _("Unknown channel.")})
    for channel in channels.values():
        if channel.status == Channel.Status.DISABLED:
            raise ValidationError(
                {"channels": _("The channel “%(name)s” is disabled.") % {"name": channel.display_name}}
            )
        if channel.status == Channel.Status.NEEDS_RECONNECTION:
            raise ValidationError(
                {
                    "channels": _("The channel “%(name)s” must be reconnected before anything is published on it.")
                    % {"name": channel.display_name}
                }
            )
        if connector_for(channel.network) is None:
            raise ValidationError(
                {
                    "channels": _("Beffroi cannot publish on %(network)s yet.")
                    % {"network": channel.get_network_display()}
                }
            )
    return [channels[i] for i in ids]


def _check_against_networks(
    channels: list[Channel], texts: dict[int, str], media: list[tuple[MediaFile, str]], options: dict[int, dict]
) -> None:
    """Every channel's rules (networks/validation.py), all at once: one message per channel and problem."""
    inputs = [item.as_input(alt_text) for item, alt_text in media]
    problems = []
    for channel in channels:
        capabilities = capabilities_for(channel.network)
        if capabilities is None:
            continue
        result = check_post(
            capabilities,
            texts[channel.pk],
            media=inputs,
            limit=channel.config.get("max_characters"),
            content_warning=options.get(channel.pk, {}).get("content_warning", ""),
        )
        problems += [f"{channel.display_name} : {error.message}" for error in result.errors]
        if media and capabilities.media_needs_public_url and not media_is_public():
            problems.append(
                _(
                    "%(name)s: %(network)s fetches pictures and videos from a public HTTPS address, and this "
                    "Beffroi's media address (%(url)s) is not one. Set BEFFROI_PUBLIC_MEDIA_URL to the public "
                    "HTTPS address of this server (or of a proxy to it)."
                )
                % {"name": channel.display_name, "network": capabilities.label, "url": public_media_base()}
            )
    if problems:
        raise ValidationError({"text": problems})


def _removal_times(channels, timings, remove_local: datetime, zone: str | None) -> dict[int, datetime]:
    """A temporary post's end, per channel (same zone rule as its start); only where the network can remove it."""
    removals = {}
    for channel in channels:
        capabilities = capabilities_for(channel.network)
        if capabilities is None or not capabilities.supports(Feature.DELETE):
            raise ValidationError(
                {
                    "remove_at": _(
                        "%(network)s does not let Beffroi remove a post: a temporary post cannot go to “%(name)s”."
                    )
                    % {"network": channel.get_network_display(), "name": channel.display_name}
                }
            )
        end = resolve_local_time(remove_local, zone or channel.effective_time_zone).due_at
        if end <= timings[channel.pk]["due_at"] + timedelta(minutes=1):
            raise ValidationError({"remove_at": _("The end of a temporary post must come after its start.")})
        removals[channel.pk] = end
    return removals


def _guard_against_duplicates(membership, channels, texts, timings, media, reason: str) -> None:
    """The same post on two of the organisation's pages of one network, close in time, is refused unless the
    person says why (recorded on the post): their fans would get it twice."""
    if reason.strip():
        return
    planned = [
        Planned(
            channel=channel,
            text=texts[channel.pk],
            due_at=timings[channel.pk]["due_at"],
            media=frozenset(item.sha256 for item, _alt in media),
        )
        for channel in channels
    ]
    _refuse_duplicates(membership, find_duplicates(membership.organisation, planned))


def _refuse_duplicates(membership, found) -> None:
    if not found:
        return
    messages = []
    for duplicate in found:
        when = format_with_zone(duplicate.other_due_at, duplicate.other_channel.effective_time_zone)
        values = {
            "channel": duplicate.channel.display_name,
            "other": duplicate.other_channel.display_name,
            "when": when,
            "hours": membership.organisation.duplicate_window_hours,
        }
        if duplicate.other_publication is None:
            messages.append(
                _(
                    "“%(channel)s” and “%(other)s” would publish the same post within %(hours)s h: fans of both pages "
                    "would get it twice. Keep one page, stagger the times, or give a reason to go ahead."
                )
                % values
            )
        else:
            messages.append(
                _(
                    "“%(channel)s”: the same post is already planned on “%(other)s” (%(when)s), within %(hours)s h. "
                    "Keep one page, stagger the times, or give a reason to go ahead."
                )
                % values
            )
    raise ValidationError({"duplicates": messages}, code="duplicate")


def _guard_a_move(membership, publication: Publication, due_at: datetime) -> None:
    """Moving (or scheduling a draft) can bring a post next to the same one on a sibling page: the same guard,
    unless a reason was recorded with the post."""
    post = publication.post
    if post.duplicate_reason:
        return
    planned = Planned(
        channel=publication.channel,
        text=post.text_for(publication.channel_id),
        due_at=due_at,
        media=frozenset(post.media.values_list("media__sha256", flat=True)),
    )
    _refuse_duplicates(membership, find_duplicates(membership.organisation, [planned], exclude_post_id=post.pk))


# Sent this long before the network's own minimum, so a slightly late worker still meets it.
NATIVE_SCHEDULE_MARGIN = timedelta(minutes=10)


def _native_schedule_run_at(channel: Channel, due_at: datetime) -> datetime:
    """When the network holds the post until its time (Facebook), Beffroi hands it over ahead of it, within the
    network's window (10 minutes to 30 days ahead on Facebook)."""
    capabilities = capabilities_for(channel.network)
    window = capabilities.native_scheduling if capabilities else None
    if window is None:
        raise ValidationError(
            {
                "scheduled_at": _("%(network)s cannot hold a post until its time.")
                % {"network": channel.get_network_display()}
            }
        )
    earliest, latest = window
    now = timezone.now()
    if due_at - now < earliest + NATIVE_SCHEDULE_MARGIN or due_at - now > latest:
        raise ValidationError(
            {
                "scheduled_at": _(
                    "%(network)s holds a post until its time only from %(min)s minutes to %(max)s days ahead: choose "
                    "another time, or let Beffroi publish it."
                )
                % {
                    "network": channel.get_network_display(),
                    "min": int((earliest + NATIVE_SCHEDULE_MARGIN).total_seconds() // 60),
                    "max": latest.days,
                }
            }
        )
    return max(now, due_at - earliest - NATIVE_SCHEDULE_MARGIN)


def _target_state(membership: Membership) -> State:
    if membership.can(Action.PUBLISH):
        return State.SCHEDULED
    if membership.can(Action.COMPOSE):
        return State.AWAITING_APPROVAL
    raise PermissionDenied(_("Your role in this organisation does not allow this."))


def _when(channel: Channel, local: datetime | None, zone: str | None, fold: int | None) -> dict:
    """The timing fields of a publication on this channel; None = now."""
    now = timezone.now()
    if local is None:
        return {"due_at": now, "run_at": now, "scheduled_local": "", "scheduled_tz": "", "scheduled_fold": 0}
    resolved = resolve_local_time(local, zone or channel.effective_time_zone, fold=fold)
    if resolved.due_at < now - PAST_TOLERANCE:
        raise ValidationError(
            {"scheduled_at": _("This time is in the past. Choose a future time, or publish now.")},
            code="past",
        )
    return {
        "due_at": resolved.due_at,
        "run_at": resolved.due_at,
        "scheduled_local": resolved.local.isoformat(timespec="minutes"),
        "scheduled_tz": resolved.zone,
        "scheduled_fold": resolved.fold,
    }


@transaction.atomic
def create_and_schedule_post(
    membership: Membership,
    *,
    text: str,
    channel_ids: Iterable[int],
    local: datetime | None,
    zone: str | None = None,
    fold: int | None = None,
    variants: dict[int, str] | None = None,
    media: list[tuple[MediaFile, str]] | None = None,
    options: dict[int, dict] | None = None,
    link: str = "",
    first_comment: str = "",
    duplicate_reason: str = "",
    local_by_channel: dict[int, datetime] | None = None,
    remove_local: datetime | None = None,
    intent: str = "schedule",
) -> Post:
    """Writes a post for several channels and schedules it (or submits it for approval, for an editor).

    `local` is the wall-clock time in `zone` (or, when `zone` is None, in each channel's own zone); None means
    now. All-or-nothing: one bad channel or time and nothing is created.
    """
    target = _target_state(membership)
    if intent == "draft":
        target = State.DRAFT
    elif intent == "submit":
        target = State.AWAITING_APPROVAL
    channels = _check_channels(membership, channel_ids)
    texts = {c.pk: ((variants or {}).get(c.pk) or text).strip() for c in channels}
    if not media and not all(texts.values()):  # a picture alone is a post (an Instagram story)
        raise ValidationError({"text": _("Write something to publish.")})
    media = media or []
    options = options or {}
    if link.strip():
        try:
            URLValidator(schemes=["http", "https"])(link.strip())
        except ValidationError as error:
            raise ValidationError({"link": _("The link must be a web address starting with https://.")}) from error
    if any(item.organisation_id != membership.organisation_id for item, _alt in media):
        raise ValidationError({"media": _("Unknown file.")})
    _check_against_networks(channels, texts, media, options)
    if target == State.DRAFT and local is None and not local_by_channel:
        # A draft without a time yet.
        timings = {
            c.pk: {"due_at": None, "run_at": None, "scheduled_local": "", "scheduled_tz": "", "scheduled_fold": 0}
            for c in channels
        }
    elif local_by_channel:
        # Each channel its own wall-clock time, in its own zone (its queue's next slot).
        timings = {c.pk: _when(c, local_by_channel[c.pk], c.effective_time_zone, None) for c in channels}
    else:
        timings = {c.pk: _when(c, local, zone, fold) for c in channels}
    timed = all(t["due_at"] is not None for t in timings.values())
    if timed:
        _guard_against_duplicates(membership, channels, texts, timings, media, duplicate_reason)
    removals = _removal_times(channels, timings, remove_local, zone) if remove_local and timed else {}
    for channel in channels:
        if timed and target != State.DRAFT and options.get(channel.pk, {}).get("native_schedule"):
            timings[channel.pk]["run_at"] = _native_schedule_run_at(channel, timings[channel.pk]["due_at"])
    # A page whose group requires approval (a chain) waits for it, whoever wrote the post.
    chains = Chains.of(membership.organisation_id)
    targets = {
        c.pk: State.AWAITING_APPROVAL if target == State.SCHEDULED and chains.for_channel(c) else target
        for c in channels
    }
    post = Post.objects.create(
        organisation=membership.organisation,
        author=membership.user,
        text=text.strip(),
        link=link.strip(),
        first_comment=first_comment.strip(),
        duplicate_reason=duplicate_reason.strip()[:500],
    )
    if target == State.SCHEDULED and State.SCHEDULED in targets.values():
        record_event(post, membership.user, "scheduled")
    waiting = [c for c in channels if targets[c.pk] == State.AWAITING_APPROVAL]
    if target != State.SCHEDULED:
        record_event(post, membership.user, {State.DRAFT: "drafted", State.AWAITING_APPROVAL: "submitted"}[target])
    elif waiting:
        record_event(post, membership.user, "submitted", ", ".join(c.display_name for c in waiting))
    for position, (item, alt_text) in enumerate(media):
        PostMedia.objects.create(post=post, media=item, position=position, alt_text=alt_text.strip())
    for channel in channels:
        variant_text = (variants or {}).get(channel.pk, "").strip()
        if variant_text or options.get(channel.pk):
            Variant.objects.create(post=post, channel=channel, text=variant_text, options=options.get(channel.pk, {}))
        Publication.objects.create(
            post=post,
            channel=channel,
            state=targets[channel.pk],
            content_fingerprint=fingerprint(texts[channel.pk]),
            remove_at=removals.get(channel.pk),
            **timings[channel.pk],
        )
    if waiting:
        _ask_for_approval(post, membership.user, chains)
    return post


def _ask_for_approval(post: Post, actor, chains: Chains) -> None:
    """Tells the approvers of the step each awaiting publication of the post now waits for."""
    notify_approvers(post, [(p, chains.pending_step(p)) for p in awaiting_publications(post)], actor)


@transaction.atomic
def reschedule_publication(
    membership: Membership,
    publication: Publication,
    *,
    local: datetime | None,
    zone: str | None = None,
    fold: int | None = None,
) -> Publication:
    if not membership.can(Action.PUBLISH):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    name = "reschedule" if publication.state == State.SCHEDULED else "schedule"
    chains = Chains.of(membership.organisation_id)
    if name == "schedule" and chains.needs_chain(publication):
        # Its page's group requires approval and this version of the post has not passed it: ask for it.
        name = "submit"
    if publication.state not in check(name, Trigger.PERSON).sources:
        raise ValidationError(_refused_message(publication.state))
    timing = _when(publication.channel, local, zone, fold)
    _guard_a_move(membership, publication, timing["due_at"])
    if name == "submit":
        timing["run_at"] = None
    try:
        transition(publication, name, Trigger.PERSON, attempts=0, last_error="", last_error_code="", **timing)
    except TransitionRefused as refused:
        raise ValidationError(_refused_message(str(refused))) from refused
    record_event(
        publication.post,
        membership.user,
        "submitted" if name == "submit" else "rescheduled",
        f"{publication.channel.display_name}: {timing['due_at']:%Y-%m-%d %H:%M} UTC",
    )
    if name == "submit":
        StepApproval.objects.filter(publication=publication).delete()
        _ask_for_approval(publication.post, membership.user, chains)
    return publication


@transaction.atomic
def cancel_publication(membership: Membership, publication: Publication) -> Publication:
    if not membership.can(Action.COMPOSE):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    try:
        transition(publication, "cancel", Trigger.PERSON, run_at=None)
    except TransitionRefused as refused:
        raise ValidationError(_refused_message(str(refused))) from refused
    record_event(publication.post, membership.user, "cancelled", publication.channel.display_name)
    return publication


def delete_publication(membership: Membership, publication: Publication) -> Publication:
    """Deletes a published post from its network, then records it as deleted. Where the network cannot delete
    through its API (Instagram), the person is told to delete it in the app and nothing changes here."""
    import asyncio

    import httpx

    from beffroi.networks.base import ChannelAccess, PublishError

    if not membership.can(Action.PUBLISH):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if publication.state != State.PUBLISHED:
        raise ValidationError(_("Only a published post can be deleted from its network."))
    channel = publication.channel
    connector = connector_for(channel.network)
    capabilities = capabilities_for(channel.network)
    if connector is None or capabilities is None or not capabilities.supports(Feature.DELETE):
        raise ValidationError(
            _("%(network)s does not let other apps delete a post: delete it in the %(network)s app.")
            % {"network": channel.get_network_display()}
        )
    access = ChannelAccess(channel.pk, channel.network, dict(channel.config), channel.credentials)

    async def call() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
            await connector.delete(http, access, publication.remote_id)

    try:
        asyncio.run(call())
    except PublishError as error:
        raise ValidationError(
            _("%(network)s did not delete the post: %(reason)s")
            % {"network": channel.get_network_display(), "reason": error.message}
        ) from error
    except httpx.HTTPError as error:
        raise ValidationError(
            _("%(network)s could not be reached; the post is still online. Try again later.")
            % {"network": channel.get_network_display()}
        ) from error
    try:
        transition(publication, "delete", Trigger.PERSON)
    except TransitionRefused as refused:
        raise ValidationError(_refused_message(str(refused))) from refused
    record_event(publication.post, membership.user, "deleted", publication.channel.display_name)
    return publication


@transaction.atomic
def edit_post_text(membership: Membership, post: Post, *, text: str) -> Post:
    """Changes the text of a post whose publications have not gone out; refused if one is being sent."""
    if not membership.can(Action.COMPOSE):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if not text.strip():
        raise ValidationError({"text": _("Write something to publish.")})
    # Lock the rows the worker would claim; the conditional update below is the real guard on SQLite.
    publications = list(Publication.objects.select_for_update().filter(post=post))
    for publication in publications:
        if publication.state in LOCKED_FOR_EDITING:
            raise ValidationError(_refused_message(publication.state))
    # A channel with its own variant keeps its text; the others take the new one.
    variants = {channel_id: body for channel_id, body in post.variants.values_list("channel_id", "text") if body}
    for publication in publications:
        changed = Publication.objects.filter(
            pk=publication.pk, version=publication.version, state=publication.state
        ).update(
            content_fingerprint=fingerprint(variants.get(publication.channel_id) or text.strip()),
            version=F("version") + 1,
        )
        if changed != 1:
            raise ValidationError(_refused_message(Publication.objects.get(pk=publication.pk).state))
    post.text = text.strip()
    post.save(update_fields=["text", "updated_at"])
    chains = Chains.of(membership.organisation_id)
    may_publish = membership.can(Action.PUBLISH)
    restarted = []
    for publication in publications:
        chained = bool(chains.for_channel(publication.channel))
        if publication.state == State.SCHEDULED and (chained or not may_publish):
            # Approved, then changed: a page whose group requires approval needs its whole chain again, whoever
            # edited; other pages need approving again when changed by someone who may not publish.
            transition(publication, "resubmit", Trigger.PERSON, run_at=None)
            restarted.append(publication)
        elif publication.state == State.AWAITING_APPROVAL and publication.step_approvals.exists():
            restarted.append(publication)  # partly approved: from the first step again
    record_event(post, membership.user, "edited")
    # What was approved was another text: approvals of this round no longer count.
    StepApproval.objects.filter(publication__post=post).delete()
    if restarted:
        if any(chains.for_channel(p.channel) for p in restarted):
            record_event(post, membership.user, "chain_restarted", ", ".join(p.channel.display_name for p in restarted))
        _ask_for_approval(post, membership.user, chains)
    return post


# Queues -------------------------------------------------------------------------------------------------------


@transaction.atomic
def add_to_queue(membership: Membership, *, text: str, channel_ids: Iterable[int], **kwargs) -> Post:
    """Schedules the post at each channel's next free queue slot (a wall-clock time in the channel's own zone),
    with every rule of create_and_schedule_post; refused if a channel has no free slot."""
    from beffroi.publishing.queues import next_free_slot

    channels = _check_channels(membership, channel_ids)
    # One queue filled at a time: two people adding at once must not get the same slot.
    list(Channel.objects.select_for_update().filter(pk__in=[c.pk for c in channels]))
    times = {channel.pk: next_free_slot(channel) for channel in channels}
    post = create_and_schedule_post(
        membership, text=text, channel_ids=[c.pk for c in channels], local=None, local_by_channel=times, **kwargs
    )
    record_event(post, membership.user, "queued", ", ".join(c.display_name for c in channels))
    return post


# Approval ----------------------------------------------------------------------------------------------------


def record_event(post: Post, actor, action: str, detail: str = "") -> None:
    PostEvent.objects.create(post=post, actor=actor, action=action, detail=detail[:500])


def _decision(membership: Membership, post: Post, chains: Chains) -> list[tuple[Publication, object]]:
    """The awaiting publications of the post whose pending step this person may decide on (rows locked)."""
    if not membership.can(Action.APPROVE):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if post.organisation_id != membership.organisation_id:
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    decision = decision_for(membership, post, chains, lock=True)
    if not decision.mine:
        if any(step is not None for _publication, step in decision.others):
            # A step of a chain waits for someone else: naming it tells the person whom to ask.
            raise PermissionDenied(
                _("This post awaits the approval of: %(steps)s. You are not one of its approvers.")
                % {"steps": ", ".join(dict.fromkeys(s.display_label() for _p, s in decision.others if s))}
            )
        raise ValidationError(_("Nothing of this post is awaiting your approval."))
    return decision.mine


def _step_detail(position: int, label: str, publications: list[Publication]) -> str:
    return f"{position}. {label}: " + ", ".join(p.channel.display_name for p in publications)


@transaction.atomic
def approve_post(membership: Membership, post: Post, *, comment: str = "") -> list[Publication]:
    """Approves the step each of the post's awaiting publications waits for, where this person is an approver of
    it. After the last step of a page's chain (or the only one, without a chain) the publication is scheduled for
    its chosen time; otherwise the next step's approvers are told. A time that passed while the post waited is
    refused (it is never published late without a person deciding); a post to publish "now" goes out once
    approved."""
    chains = Chains.of(membership.organisation_id)
    mine = _decision(membership, post, chains)
    now = timezone.now()
    late = [p for p, _step in mine if p.scheduled_local and p.due_at and p.due_at < now - PAST_TOLERANCE]
    if late:
        raise ValidationError(
            _("The planned time of this post passed while it awaited approval (%(channels)s): choose a new time.")
            % {"channels": ", ".join(p.channel.display_name for p in late)}
        )
    scheduled: dict[str, list[Publication]] = {}  # detail of the step that completed the chain → publications
    advanced: dict[tuple[int, str], list[Publication]] = {}
    for publication, step in mine:
        chain = chains.for_channel(publication.channel)
        position = chains.done(publication) + 1
        if step is not None:
            try:
                with transaction.atomic():
                    StepApproval.objects.create(
                        publication=publication,
                        position=position,
                        step=step,
                        label=step.display_label(),
                        approver=membership.user,
                    )
            except IntegrityError as taken:  # someone approved this very step a moment ago
                raise ValidationError(_refused_message(State.AWAITING_APPROVAL)) from taken
        if step is None or position >= len(chain):
            changes = {"run_at": publication.due_at or now}
            if not publication.scheduled_local:  # "publish now": now is when it is approved
                changes = {"run_at": now, "due_at": now}
            try:
                transition(publication, "approve", Trigger.PERSON, **changes)
            except TransitionRefused as refused:
                raise ValidationError(_refused_message(str(refused))) from refused
            scheduled.setdefault(f"{position}. {step.display_label()}" if step else "", []).append(publication)
        else:
            advanced.setdefault((position, step.display_label()), []).append(publication)
    PostComment.objects.create(post=post, author=membership.user, kind=PostComment.Kind.APPROVED, body=comment.strip())
    for (position, label), publications in advanced.items():
        record_event(post, membership.user, "step_approved", _step_detail(position, label, publications))
    for step_label, publications in scheduled.items():
        channels = ", ".join(p.channel.display_name for p in publications)
        record_event(post, membership.user, "approved", f"{step_label}: {channels}" if step_label else channels)
    if advanced:
        moved = [p for publications in advanced.values() for p in publications]
        for publication in moved:
            publication.refresh_from_db()
        notify_approvers(post, [(p, chains.pending_step(p)) for p in _with_progress(moved)], membership.user)
    if scheduled and not post.publications.filter(state=State.AWAITING_APPROVAL).exists():
        notify([post.author], post=post, verb=Notification.Verb.APPROVED, actor=membership.user, text=comment.strip())
    return [publication for publication, _step in mine]


def _with_progress(publications: list[Publication]) -> list[Publication]:
    return list(
        Publication.objects.filter(pk__in=[p.pk for p in publications])
        .select_related("channel")
        .prefetch_related("step_approvals")
    )


@transaction.atomic
def reject_post(membership: Membership, post: Post, *, comment: str) -> list[Publication]:
    """Sends the post back to its author as a draft, with the validator's comment (required: say what to fix), at
    whatever step it stands; its chain starts again from the first step when it is submitted again."""
    if not membership.can(Action.APPROVE):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if not comment.strip():
        raise ValidationError({"comment": _("Say what to change: the author will read it.")})
    mine = _decision(membership, post, Chains.of(membership.organisation_id))
    for publication, _step in mine:
        try:
            transition(publication, "reject", Trigger.PERSON, run_at=None)
        except TransitionRefused as refused:
            raise ValidationError(_refused_message(str(refused))) from refused
    StepApproval.objects.filter(publication__in=[p for p, _step in mine]).delete()
    PostComment.objects.create(post=post, author=membership.user, kind=PostComment.Kind.REJECTED, body=comment.strip())
    steps = ", ".join(dict.fromkeys(step.display_label() for _p, step in mine if step is not None))
    record_event(post, membership.user, "rejected", f"{steps}: {comment.strip()}" if steps else comment.strip())
    notify([post.author], post=post, verb=Notification.Verb.REJECTED, actor=membership.user, text=comment.strip())
    transaction.on_commit(lambda: notify_rejection.enqueue(post.pk))
    return [publication for publication, _step in mine]


@transaction.atomic
def comment_on_post(membership: Membership, post: Post, *, body: str) -> PostComment:
    """Adds a comment to the post's thread and tells its author and the earlier commenters (never oneself)."""
    if not membership.can(Action.VIEW_PUBLICATIONS) or post.organisation_id != membership.organisation_id:
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if visible_post(membership, post.pk) is None:
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    if not body.strip():
        raise ValidationError({"body": _("Write a comment.")})
    earlier = [c.author for c in post.comments.select_related("author") if c.author is not None]
    comment = PostComment.objects.create(post=post, author=membership.user, body=body.strip())
    record_event(post, membership.user, "commented")
    notify([post.author, *earlier], post=post, verb=Notification.Verb.COMMENTED, actor=membership.user, text=body)
    return comment
