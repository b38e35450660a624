"""The publication state machine, declared in one place.

Every change of state goes through `transition()` (or the worker's batch equivalents, which check the same
table): a conditional UPDATE on the current state, so two processes can never both move one publication.

    draft ─submit→ awaiting_approval ─approve→ scheduled ─claim→ publishing ─succeed→ published
      └────────────schedule──────────────────────┘  ▲   │        │  ├─fail→ failed
                                                     │   │        │  ├─retry (before sending)→ scheduled
                                                     │   └─miss→ missed    └─lose_track (ambiguous)→ unknown
                            unknown ─reconcile_found→ published | ─reconcile_absent→ scheduled (never blind)
                            any state a person may stop ─cancel→ cancelled
                            published ─delete (on the network first)→ deleted
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    SCHEDULED = "scheduled", _("Scheduled")
    PUBLISHING = "publishing", _("Publishing")
    PUBLISHED = "published", _("Published")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("To check")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")
    DELETED = "deleted", _("Deleted from the network")


class Trigger(StrEnum):
    PERSON = "person"  # someone acting in the interface, the API or the CLI
    WORKER = "worker"  # the dispatcher publishing a claimed publication
    SWEEPER = "sweeper"  # the periodic sweep: leases, lateness, reconciliation


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[State]
    target: State
    triggers: frozenset[Trigger]


def _t(name: str, sources, target: State, *triggers: Trigger) -> Transition:
    sources = frozenset(sources if isinstance(sources, (set, frozenset, list, tuple)) else {sources})
    return Transition(name, sources, target, frozenset(triggers))


S, T = State, Trigger
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        # From failed or missed too: scheduled again on a page whose group requires approval, a changed post (or
        # one approved before the chain existed) passes the chain first.
        _t("submit", {S.DRAFT, S.FAILED, S.MISSED}, S.AWAITING_APPROVAL, T.PERSON),
        _t("approve", S.AWAITING_APPROVAL, S.SCHEDULED, T.PERSON),
        _t("reject", S.AWAITING_APPROVAL, S.DRAFT, T.PERSON),
        _t("schedule", {S.DRAFT, S.FAILED, S.MISSED}, S.SCHEDULED, T.PERSON),
        _t("reschedule", S.SCHEDULED, S.SCHEDULED, T.PERSON),
        _t("unschedule", S.SCHEDULED, S.DRAFT, T.PERSON),
        # An approved post edited by someone who may not publish goes back for approval.
        _t("resubmit", S.SCHEDULED, S.AWAITING_APPROVAL, T.PERSON),
        _t("cancel", {S.DRAFT, S.AWAITING_APPROVAL, S.SCHEDULED, S.FAILED, S.MISSED}, S.CANCELLED, T.PERSON),
        _t("claim", S.SCHEDULED, S.PUBLISHING, T.WORKER),
        _t("succeed", S.PUBLISHING, S.PUBLISHED, T.WORKER),
        _t("retry", S.PUBLISHING, S.SCHEDULED, T.WORKER),
        _t("fail", S.PUBLISHING, S.FAILED, T.WORKER),
        _t("lose_track", S.PUBLISHING, S.UNKNOWN, T.WORKER, T.SWEEPER),
        _t("reconcile_found", S.UNKNOWN, S.PUBLISHED, T.SWEEPER),
        _t("reconcile_absent", S.UNKNOWN, S.SCHEDULED, T.SWEEPER),
        _t("reconcile_give_up", S.UNKNOWN, S.FAILED, T.SWEEPER),
        _t("miss", S.SCHEDULED, S.MISSED, T.SWEEPER),
        # A person checked on the network that an "unknown" post is (or is not) live.
        _t("confirm_published", S.UNKNOWN, S.PUBLISHED, T.PERSON),
        _t("confirm_absent", S.UNKNOWN, S.SCHEDULED, T.PERSON),
        # Removed from the network by a person through Beffroi (the connector's delete succeeded first).
        _t("delete", S.PUBLISHED, S.DELETED, T.PERSON),
        # A temporary post reaching its end time (the network deleted it first).
        _t("expire", S.PUBLISHED, S.DELETED, T.SWEEPER),
    ]
}

# States a person may no longer change: the post is (or may be) on the network, or being sent.
LOCKED_FOR_EDITING = frozenset({S.PUBLISHING, S.PUBLISHED, S.UNKNOWN, S.CANCELLED, S.DELETED})


class TransitionRefused(Exception):
    """The publication was not in a state this transition leaves (someone else moved it first)."""


def check(name: str, trigger: Trigger) -> Transition:
    transition = TRANSITIONS[name]
    if trigger not in transition.triggers:
        raise PermissionError(f"{trigger} may not trigger {name}")
    return transition
