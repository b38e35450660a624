"""Posts, their per-channel publications, and the write-ahead record of every attempt."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from beffroi.channels.models import Channel
from beffroi.organisations.models import Organisation
from beffroi.publishing.states import State


class Post(models.Model):
    """What the author writes once; variants adapt it per channel."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="posts"
    )
    text = models.TextField(_("text"), blank=True)
    link = models.URLField(_("link"), blank=True, max_length=2000)
    first_comment = models.TextField(_("first comment"), blank=True)
    # Why it goes to several of the organisation's pages of one network anyway (the duplicate guard).
    duplicate_reason = models.CharField(_("reason for the duplicate"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("post")
        verbose_name_plural = _("posts")

    def __str__(self) -> str:
        return (self.text[:60] + "…") if len(self.text) > 60 else self.text

    # The post as one channel gets it. They read `variants` and `media` through .all(), so a caller that
    # prefetched them (`post__variants`, `post__media__media`) runs no query per publication.

    def variant_for(self, channel_id: int) -> Variant | None:
        return next((v for v in self.variants.all() if v.channel_id == channel_id), None)

    def text_for(self, channel_id: int) -> str:
        variant = self.variant_for(channel_id)
        return variant.text if variant and variant.text else self.text

    def media_for(self, channel_id: int) -> list:
        """The channel's variant's own media when it has some, else the post's, in order."""
        variant = self.variant_for(channel_id)
        uses = list(self.media.all())
        own = [use for use in uses if variant is not None and use.variant_id == variant.pk]
        chosen = own or [use for use in uses if use.variant_id is None]
        return sorted(chosen, key=lambda use: (use.position, use.pk))


class Variant(models.Model):
    """The post adapted for one channel (text may differ per network or channel)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="variants")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(_("text"), blank=True)
    # Per-network choices (networks/base.py PublishJob.options): content warning, visibility, poll, thread…
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "channel"], name="one_variant_per_channel")]


def fingerprint(text: str) -> str:
    """Content fingerprint for reconciliation: the same words survive HTML, spacing and case changes."""
    # Block breaks become spaces; inline tags (links, hashtags, mentions) vanish without one, so the text
    # Mastodon renders "<a href=…><span>https://</span>example.org</a>" matches what was sent.
    plain = re.sub(r"(?i)<\s*(br|/p|p)\b[^>]*>", " ", text)
    plain = html.unescape(re.sub(r"<[^>]+>", "", plain))
    plain = unicodedata.normalize("NFKC", plain).casefold()
    plain = re.sub(r"\s+", " ", plain).strip()
    return hashlib.sha256(plain.encode()).hexdigest()[:32]


class Publication(models.Model):
    """One post on one channel: the unit that is scheduled, claimed and published."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="publications")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="publications")
    state = models.CharField(_("status"), max_length=24, choices=State.choices, default=State.DRAFT)
    # The promise, in UTC, and what the person chose (kept so the choice can be shown and recomputed).
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    # The wall-clock time as chosen, e.g. "2031-06-03T09:00" (text: a DateTimeField would attach a zone to it).
    scheduled_local = models.CharField(_("chosen local time"), max_length=19, blank=True)
    scheduled_tz = models.CharField(_("time zone"), max_length=64, blank=True)
    scheduled_fold = models.PositiveSmallIntegerField(default=0)  # 1 = second occurrence of a repeated hour
    # When the worker may next pick it up: due_at at first, later after a back-off.
    run_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Claim: who holds it, until when, and the fence that guards every result write.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    fence = models.PositiveBigIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Outcome.
    remote_id = models.CharField(max_length=255, blank=True)
    remote_url = models.URLField(max_length=2000, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    late_by = models.DurationField(null=True, blank=True)
    # A temporary post: removed from the network at this time (the decks' "publications temporaires").
    remove_at = models.DateTimeField(_("remove at"), null=True, blank=True)
    removal_lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    unknown_since = models.DateTimeField(null=True, blank=True)
    reconcile_checks = models.PositiveSmallIntegerField(default=0)
    content_fingerprint = models.CharField(max_length=32, blank=True)
    version = models.PositiveIntegerField(default=1)  # optimistic locking for edits
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "pk"]
        verbose_name = _("publication")
        verbose_name_plural = _("publications")
        constraints = [
            # One in-flight publish per channel, enforced by the database itself.
            models.UniqueConstraint(
                fields=["channel"], condition=Q(state=State.PUBLISHING), name="one_inflight_per_channel"
            ),
            models.UniqueConstraint(fields=["post", "channel"], name="one_publication_per_post_and_channel"),
        ]
        # In the claim's order, so a claim reads one batch of due rows instead of sorting all of them.
        indexes = [models.Index(fields=["state", "run_at", "id"], name="publication_due")]

    def __str__(self) -> str:
        return f"{self.post} → {self.channel} [{self.state}]"

    @property
    def idempotency_key(self) -> str:
        """Deterministic: a retry of the same publication carries the same key."""
        return f"beffroi-publication-{self.pk}"

    @property
    def time_note(self) -> str:
        """Said when the chosen time happens twice that day (clocks going back): which one was taken."""
        if not (self.scheduled_local and self.scheduled_tz):
            return ""
        from datetime import datetime

        from beffroi.publishing.timing import resolve_local_time

        local = datetime.fromisoformat(self.scheduled_local)
        return resolve_local_time(local, self.scheduled_tz, fold=self.scheduled_fold).note

    @property
    def late_minutes(self) -> int:
        """Whole minutes late (0 when on time or within a minute)."""
        return int(self.late_by.total_seconds() // 60) if self.late_by else 0

    @property
    def error_message(self) -> str:
        """The last error in the viewer's language when Beffroi knows it, else as the network said it."""
        known = ERROR_MESSAGES.get(self.last_error_code)
        if known:
            return str(known)
        lead = ERROR_LEADS.get(self.last_error_code)
        return f"{lead} {self.last_error}" if lead else self.last_error


class Attempt(models.Model):
    """Write-ahead record: committed before the network is called, completed after (secrets redacted)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("In progress")
        SUCCEEDED = "succeeded", _("Succeeded")
        RETRY = "retry", _("Will retry")
        FAILED = "failed", _("Failed")
        AMBIGUOUS = "ambiguous", _("Outcome unknown")
        FENCED = "fenced", _("Result ignored (claim taken over)")

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    fence = models.PositiveBigIntegerField()
    worker = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    request = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=255, blank=True)
    remote_url = models.URLField(max_length=2000, blank=True)

    class Meta:
        ordering = ["publication", "number"]
        indexes = [models.Index(fields=["publication", "fence"], name="attempt_by_fence")]


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    in_flight = models.PositiveIntegerField(default=0)
    published = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-beat_at"]


# Errors Beffroi itself describes (by Publication.last_error_code), so people read them in their language.
ERROR_MESSAGES = {
    "rate_limited": _("The network asked us to slow down: the post goes out a little later."),
    "local_rate_limit": _("Publishing rate of this channel reached: the post goes out a little later."),
    "unauthorised": _("The network refused the channel's authorisation: reconnect the channel."),
    "credentials_unreadable": _("The channel's stored authorisation cannot be read: reconnect the channel."),
    "no_connector": _("Beffroi cannot publish on this network yet."),
    "lease_expired": _("Beffroi stopped while publishing: checking on the network before anything else."),
    "missed": _("Not published: Beffroi could not send it within the allowed delay after its time."),
    "reconciled_absent": _("Not found on the network after checking: sending it again."),
    "ConnectError": _("The network could not be reached; nothing was sent. Trying again."),
    "ConnectTimeout": _("The network could not be reached; nothing was sent. Trying again."),
    "ReadTimeout": _("The network did not answer in time; the post may or may not be published. Checking."),
    "unreachable": _("The network could not be reached; nothing was sent. Trying again."),
    "no_answer": _("The network did not answer in time; the post may or may not be published. Checking."),
    "server_error": _("The network answered with an error; the post may or may not be published. Checking."),
    "server_error_before_post": _("The network answered with an error before anything was posted. Trying again."),
    "needs_reconnection": _("The network refused the channel's authorisation: reconnect the channel."),
    "media_processing": _("The network is still processing a picture or video; nothing was published yet."),
    "video_unsupported": _("Beffroi cannot publish videos on this network yet."),
    "no_feed": _("This feed has no public address: reconnect it."),
    "not_started": _("The worker stopped before sending: the post goes out with the next one."),
    "removal_refused": _("Not removed at its end time: the network refused. Delete it on the network."),
    "cannot_check": _(
        "The network did not confirm this post and cannot be read back for it: check the account, it may be "
        "online. Schedule it again only if it is not."
    ),
    "token_expired": _("The network refused the channel's authorisation: reconnect the channel."),
    "token_invalid": _("The network refused the channel's authorisation: reconnect the channel."),
    "password_changed": _("The network refused the channel's authorisation: reconnect the channel."),
    "app_removed": _("The network refused the channel's authorisation: reconnect the channel."),
    "publishing_limit": _("The account reached the network's daily publishing limit: the post goes out later."),
    "media_not_public": _(
        "The network fetches pictures and videos from a public address, and this Beffroi's media address is not "
        "public: set BEFFROI_PUBLIC_MEDIA_URL."
    ),
    "delete_not_supported": _("This network does not let other apps delete a post: delete it in its app."),
}
# Codes whose message carries the network's own words (the reason it refused): shown after a translated lead.
ERROR_LEADS = {
    "invalid_post": _("The network refused the post:"),
    "media_refused": _("The network refused a picture or video:"),
    "media_too_big": _("A picture or video is too big for the network:"),
    "media_unreadable": _("A picture or video of the post cannot be read on this server:"),
    "too_many_media": _("Too many pictures or videos for the network:"),
    "invalid_visibility": _("Unknown visibility:"),
    "thread_incomplete": _("The thread was only partly published:"),
    "record_key_taken": _("Another post already uses this post's key on the network:"),
    "permission_denied": _("The network refused for lack of permission:"),
    "blocked_by_policy": _("The network blocked the post under its rules:"),
    "duplicate_post": _("The network refused a duplicate of an earlier post:"),
    "invalid_parameter": _("The network refused the post:"),
    "schedule_out_of_range": _("The network cannot schedule the post at that time:"),
    "media_error": _("The network could not process a picture or video:"),
    "unsupported_media_type": _("The network does not take this type of file:"),
    "aspect_ratio": _("The network refused the shape of a picture or video:"),
}


def _feed_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class CalendarFeed(models.Model):
    """A private iCalendar address (RFC 5545) a person subscribes to from Google Calendar or Outlook.

    It belongs to a membership and shows what that membership may see, re-checked on every fetch: a person who
    leaves the organisation (or loses the role) stops getting anything. Optionally narrowed to one page group.
    """

    membership = models.ForeignKey("organisations.Membership", on_delete=models.CASCADE, related_name="calendar_feeds")
    group = models.ForeignKey("organisations.PageGroup", on_delete=models.CASCADE, null=True, blank=True)
    token = models.CharField(max_length=64, unique=True, default=_feed_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        return f"{self.membership} / {self.group or '*'}"


class PostComment(models.Model):
    """The thread on a post: people's comments, and the reasons given when approving or rejecting it."""

    class Kind(models.TextChoices):
        COMMENT = "comment", _("Comment")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.COMMENT)
    body = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class PostEvent(models.Model):
    """The audit log of a post: who did what, when (people's actions through the services)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    action = models.CharField(max_length=32)
    detail = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    @property
    def action_label(self) -> str:
        return str(EVENT_LABELS.get(self.action, self.action))


# What each audit-log action is called on the post's page (the rows keep the code: pages show it in the viewer's
# language).
EVENT_LABELS = {
    "drafted": _("Saved as a draft"),
    "submitted": _("Submitted for approval"),
    "scheduled": _("Scheduled"),
    "queued": _("Added to the queues"),
    "rescheduled": _("Time changed"),
    "edited": _("Edited"),
    "chain_restarted": _("Approval asked again from the first step"),
    "step_approved": _("Approval step approved"),
    "approved": _("Approved"),
    "rejected": _("Sent back to its author"),
    "commented": _("Commented"),
    "cancelled": _("Cancelled"),
    "deleted": _("Deleted from the network"),
}


class StepApproval(models.Model):
    """One approved step of a publication's approval chain (organisations.ApprovalStep), in the current round.

    Rows are removed when the chain restarts (the post edited or sent back); the audit log (PostEvent) keeps every
    decision. How many rows a publication has is how far along its chain it is."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="step_approvals")
    position = models.PositiveSmallIntegerField()  # 1 = the first step of the chain
    step = models.ForeignKey(
        "organisations.ApprovalStep", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # As it was called when approved (the chain may change later).
    label = models.CharField(max_length=200)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["publication", "position"]
        # Two people approving the same step at once: one of them only.
        constraints = [models.UniqueConstraint(fields=["publication", "position"], name="one_approval_per_step")]


class Notification(models.Model):
    """Something a person should know about, shown in the app (the bell) and, for some, sent by e-mail."""

    class Verb(models.TextChoices):
        APPROVAL_NEEDED = "approval_needed", _("Approval needed")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Sent back")
        COMMENTED = "commented", _("Comment")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    verb = models.CharField(max_length=24, choices=Verb.choices)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    # The people's own words (the start of the post, a comment): shown as written. The sentence around them is
    # built when shown, so that each person reads it in their own language.
    text = models.CharField(max_length=500, blank=True)
    detail = models.CharField(max_length=200, blank=True)  # e.g. the approval step's name
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.sentence

    @property
    def sentence(self) -> str:
        actor = _person_name(self.actor)
        values = {"actor": actor, "author": _person_name(self.post.author if self.post else None), "step": self.detail}
        if self.verb == self.Verb.APPROVAL_NEEDED:
            if self.detail:
                return str(_("A post by %(author)s awaits your approval (step: %(step)s).") % values)
            return str(_("A post by %(author)s awaits your approval.") % values)
        if self.verb == self.Verb.APPROVED:
            return str(_("%(actor)s approved your post: it is scheduled.") % values)
        if self.verb == self.Verb.REJECTED:
            return str(_("%(actor)s sent your post back for changes.") % values)
        return str(_("%(actor)s commented on a post.") % values)


class QueueSlot(models.Model):
    """A weekly time at which a channel's queue publishes (e.g. Monday, Wednesday and Friday at 12:00), as a
    wall-clock time in the channel's zone: it stays 12:00 on both sides of a clock change."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="queue_slots")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=[(n, n) for n in range(7)])  # 0 = Monday
    time = models.TimeField(_("time"))

    class Meta:
        ordering = ["weekday", "time"]
        constraints = [models.UniqueConstraint(fields=["channel", "weekday", "time"], name="one_slot_per_time")]


def _person_name(user) -> str:
    if user is None:
        return str(_("Someone"))
    return user.full_name or user.email


class HashtagSet(models.Model):
    """Hashtags an organisation reuses (e.g. its campaign's), inserted into a post in one click."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="hashtag_sets")
    name = models.CharField(_("name"), max_length=80)
    tags = models.CharField(_("hashtags"), max_length=1000)  # "#one #two", normalised by the service
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="one_hashtag_set_name")]

    def __str__(self) -> str:
        return self.name
