"""Approval chains: which steps a publication must pass before it is scheduled, who may approve each, and how far
along it is.

A page group may declare an ordered chain (organisations.ApprovalStep). A channel follows its group's chain, else
the nearest ancestor's. A publication's progress is its StepApproval rows (one per approved step, this round).
Publications on channels without any chain keep the single step: any validator who sees the channel approves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.organisations.models import ApprovalStep, Membership, PageGroup
from beffroi.organisations.roles import Action, Role, role_allows
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.states import State


@dataclass
class Chains:
    """Every chain of one organisation, loaded once (trees and chains are small)."""

    steps: dict[int, list[ApprovalStep]] = field(default_factory=dict)  # group id → its own steps, in order
    parents: dict[int, int | None] = field(default_factory=dict)

    @classmethod
    def of(cls, organisation_id: int) -> Chains:
        chains = cls(
            parents=dict(PageGroup.objects.filter(organisation_id=organisation_id).values_list("id", "parent"))
        )
        for step in (
            ApprovalStep.objects.filter(group__organisation_id=organisation_id)
            .select_related("approver_group", "group")
            .order_by("group_id", "position")
        ):
            chains.steps.setdefault(step.group_id, []).append(step)
        return chains

    def owner(self, group_id: int | None) -> int | None:
        """The group whose chain applies to pages of `group_id`: itself, else its nearest ancestor with a chain."""
        seen: set[int] = set()
        while group_id is not None and group_id not in seen:
            if self.steps.get(group_id):
                return group_id
            seen.add(group_id)
            group_id = self.parents.get(group_id)
        return None

    def for_group(self, group_id: int | None) -> list[ApprovalStep]:
        owner = self.owner(group_id)
        return self.steps[owner] if owner is not None else []

    def for_channel(self, channel: Channel) -> list[ApprovalStep]:
        return self.for_group(channel.group_id)

    def done(self, publication: Publication) -> int:
        """How many steps of its chain the publication has passed (reads a prefetch of `step_approvals`)."""
        return len(publication.step_approvals.all())

    def pending_step(self, publication: Publication) -> ApprovalStep | None:
        """The step a publication awaiting approval waits for; None when it has no chain (or its chain was shortened
        under it): then any validator who sees the channel decides, as without a chain."""
        if publication.state != State.AWAITING_APPROVAL:
            return None
        chain, done = self.for_channel(publication.channel), self.done(publication)
        return chain[done] if done < len(chain) else None

    def needs_chain(self, publication: Publication) -> bool:
        """Has the publication a chain it has not fully passed in this round?"""
        return self.done(publication) < len(self.for_channel(publication.channel))


def may_decide(membership: Membership, publication: Publication, step: ApprovalStep | None, visible: set[int]) -> bool:
    """May this person approve (or send back) the step this publication waits for? `visible`: the ids of the
    channels the person sees."""
    if not membership.can(Action.APPROVE) or publication.channel.organisation_id != membership.organisation_id:
        return False
    if step is None:
        return publication.channel_id in visible
    return step.allows(membership, publication.channel.group_id)


def visible_channel_ids(membership: Membership) -> set[int]:
    return set(Channel.objects.visible_to(membership).values_list("id", flat=True))


def awaiting_publications(post: Post, *, lock: bool = False) -> list[Publication]:
    publications = Publication.objects.filter(post=post, state=State.AWAITING_APPROVAL)
    if lock:
        publications = publications.select_for_update()
    # The prefetch runs after the rows are locked, so it sees the steps approved by whoever held them before.
    return list(publications.select_related("channel").prefetch_related("step_approvals").order_by("pk"))


@dataclass
class Decision:
    """Who may decide what on one post, right now."""

    mine: list[tuple[Publication, ApprovalStep | None]]
    others: list[tuple[Publication, ApprovalStep | None]]


def decision_for(membership: Membership, post: Post, chains: Chains, *, lock: bool = False) -> Decision:
    visible = visible_channel_ids(membership)
    mine, others = [], []
    for publication in awaiting_publications(post, lock=lock):
        step = chains.pending_step(publication)
        (mine if may_decide(membership, publication, step, visible) else others).append((publication, step))
    return Decision(mine, others)


def approvers(organisation_id: int, publication: Publication, step: ApprovalStep | None) -> list[Membership]:
    """The people who may decide on this publication's pending step."""
    return _approvers(_deciding_memberships(organisation_id), publication, step)


def _deciding_memberships(organisation_id: int) -> list[Membership]:
    """The organisation's memberships that may approve at all, with their scopes computed in two queries."""
    roles = [role for role in Role if role_allows(role, Action.APPROVE)]
    memberships = list(
        Membership.objects.filter(organisation_id=organisation_id, role__in=roles)
        .select_related("user")
        .prefetch_related("groups")
    )
    children: dict[int | None, list[int]] = {}
    for group_id, parent_id in PageGroup.objects.filter(organisation_id=organisation_id).values_list("id", "parent"):
        children.setdefault(parent_id, []).append(group_id)
    for membership in memberships:
        roots = {group.pk for group in membership.groups.all()}
        if not roots:
            membership._scope_cache = None
            continue
        found, stack = set(), list(roots)
        while stack:
            group_id = stack.pop()
            if group_id not in found:
                found.add(group_id)
                stack.extend(children.get(group_id, []))
        membership._scope_cache = found
    return memberships


def _approvers(
    memberships: Iterable[Membership], publication: Publication, step: ApprovalStep | None
) -> list[Membership]:
    found = []
    for membership in memberships:
        scope = membership.scope_group_ids()
        visible = {publication.channel_id} if scope is None or publication.channel.group_id in scope else set()
        if may_decide(membership, publication, step, visible):
            found.append(membership)
    return found


def approvers_by_user(organisation_id: int, pairs: Iterable[tuple[Publication, ApprovalStep | None]]) -> dict:
    """For notifications: each person who may decide, with the steps they are asked for (in order, no repeats)."""
    memberships = _deciding_memberships(organisation_id)
    asked: dict = {}
    for publication, step in pairs:
        label = step.display_label() if step is not None else ""
        found = _approvers(memberships, publication, step)
        # Admins may approve anything: they are asked only when nobody else can, or they would hear of every step.
        for membership in [m for m in found if m.role != Role.ADMIN] or found:
            labels = asked.setdefault(membership.user, [])
            if label not in labels:
                labels.append(label)
    return asked


def approves_for(membership: Membership, publication: Publication, chains: Chains) -> bool:
    """Is this person an approver of a step of the publication's chain (whether it is that step's turn or not)?"""
    return any(
        step.allows(membership, publication.channel.group_id) for step in chains.for_channel(publication.channel)
    )


def visible_post(membership: Membership, post_id: int) -> Post | None:
    """The post if this person may see it: it goes to a channel they see, or to one whose approval chain they take
    part in (an approver group's validators may not see the pages they approve for)."""
    post = Post.objects.filter(organisation_id=membership.organisation_id, pk=post_id).select_related("author").first()
    if post is None:
        return None
    if Publication.objects.filter(post=post, channel__in=Channel.objects.visible_to(membership)).exists():
        return post
    if membership.can(Action.APPROVE):
        chains = Chains.of(membership.organisation_id)
        if any(approves_for(membership, p, chains) for p in post.publications.select_related("channel")):
            return post
    return None


def awaiting_my_decision(membership: Membership) -> list[int]:
    """Ids of the publications awaiting a step this person may approve, wherever their channel is."""
    if not membership.can(Action.APPROVE):
        return []
    chains = Chains.of(membership.organisation_id)
    visible = visible_channel_ids(membership)
    publications = (
        Publication.objects.filter(post__organisation_id=membership.organisation_id, state=State.AWAITING_APPROVAL)
        .select_related("channel")
        .prefetch_related("step_approvals")
    )
    return [p.pk for p in publications if may_decide(membership, p, chains.pending_step(p), visible)]


@dataclass
class StepStatus:
    position: int
    label: str
    approvers: str
    status: str  # "done", "pending" or "to_come"
    approval: object | None = None  # the StepApproval when done


@dataclass
class ChainStatus:
    """Where the publications of one post on the pages of one chain stand (owner None: no chain, one approval)."""

    owner: PageGroup | None
    publications: list[Publication]
    steps: list[StepStatus]


def post_overview(membership: Membership, post: Post) -> dict:
    """What the post's page shows of its publications and their approval, for this person."""
    chains = Chains.of(membership.organisation_id)
    visible = visible_channel_ids(membership)
    publications = list(
        post.publications.select_related("channel", "channel__group")
        .prefetch_related("step_approvals__approver")
        .order_by("channel__display_name", "pk")
    )
    decision = decision_for(membership, post, chains)
    mine = {p.pk for p, _step in decision.mine}
    shown = [p for p in publications if p.channel_id in visible or p.pk in mine or approves_for(membership, p, chains)]
    blocks: dict[int | None, ChainStatus] = {}
    for publication in shown:
        owner = chains.owner(publication.channel.group_id)
        if owner is None and publication.state != State.AWAITING_APPROVAL:
            continue  # no chain and not waiting: nothing to show but the audit log
        block = blocks.get(owner)
        if block is None:
            owner_group = chains.steps[owner][0].group if owner is not None else None
            block = blocks[owner] = ChainStatus(owner_group, [], [])
        block.publications.append(publication)
    for owner, block in blocks.items():
        if owner is None:
            block.steps = [StepStatus(1, str(_("Approval")), str(_("any validator who sees the page")), "pending")]
            continue
        approvals: dict[int, object] = {}
        for publication in block.publications:
            for approval in publication.step_approvals.all():
                approvals.setdefault(approval.position, approval)
        waiting_at = {chains.done(p) + 1 for p in block.publications if p.state == State.AWAITING_APPROVAL}
        for position, step in enumerate(chains.steps[owner], start=1):
            status = "done" if position in approvals else "pending" if position in waiting_at else "to_come"
            block.steps.append(
                StepStatus(position, step.display_label(), step.approver_label(), status, approvals.get(position))
            )
    return {
        "publications": shown,
        "chains": list(blocks.values()),
        "can_decide": bool(decision.mine),
        "deciding_steps": list(dict.fromkeys(step.display_label() for _p, step in decision.mine if step)),
    }
