"""Operations on organisations, page groups and members. Views and the API call these, never the models directly.

Every operation validates first and writes in one transaction: bad input writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from beffroi.organisations.models import (
    APPROVER_ROLES,
    ApprovalStep,
    Invitation,
    Membership,
    Organisation,
    PageGroup,
    descendant_ids,
)
from beffroi.organisations.roles import Role

User = get_user_model()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "organisation"
    slug, n = base, 2
    while Organisation.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_organisation(*, creator, name: str, time_zone: str, language: str = "fr") -> Organisation:
    organisation = Organisation(name=name.strip(), time_zone=time_zone, language=language)
    organisation.slug = _unique_slug(organisation.name)
    organisation.full_clean()
    organisation.save()
    Membership.objects.create(organisation=organisation, user=creator, role=Role.ADMIN)
    return organisation


@transaction.atomic
def update_organisation(
    organisation: Organisation, *, name: str, time_zone: str, language: str, duplicate_window_hours: int | None = None
) -> None:
    organisation.name, organisation.time_zone, organisation.language = name.strip(), time_zone, language
    if duplicate_window_hours is not None:
        organisation.duplicate_window_hours = duplicate_window_hours
    organisation.full_clean()
    organisation.save(update_fields=["name", "time_zone", "language", "duplicate_window_hours"])


# Page groups ---------------------------------------------------------------------------------------------


def _check_group_placement(group: PageGroup) -> None:
    parent = group.parent
    if parent is None:
        return
    if parent.organisation_id != group.organisation_id:
        raise ValidationError({"parent": _("This group belongs to another organisation.")})
    if group.pk and parent.pk in descendant_ids(group.organisation_id, {group.pk}):
        raise ValidationError({"parent": _("A group cannot be placed inside itself or one of its subgroups.")})
    if group.level <= parent.level:
        raise ValidationError(
            {
                "level": _("A group of level “%(level)s” cannot sit under a group of level “%(parent_level)s”.")
                % {
                    "level": group.get_level_display(),
                    "parent_level": parent.get_level_display(),
                }
            }
        )


@transaction.atomic
def save_page_group(
    organisation: Organisation,
    *,
    name: str,
    level: int,
    parent: PageGroup | None,
    group: PageGroup | None = None,
) -> PageGroup:
    group = group or PageGroup(organisation=organisation)
    group.name, group.level, group.parent = name.strip(), level, parent
    group.full_clean(validate_unique=False)
    _check_group_placement(group)
    if PageGroup.objects.filter(organisation=organisation, name__iexact=group.name).exclude(pk=group.pk).exists():
        raise ValidationError({"name": _("A page group with this name already exists.")})
    for child in group.children.all() if group.pk else []:
        if child.level <= group.level:
            raise ValidationError(
                {"level": _("Its subgroup “%(child)s” would no longer be below it.") % {"child": child.name}}
            )
    group.save()
    return group


@transaction.atomic
def delete_page_group(group: PageGroup) -> None:
    if group.children.exists():
        raise ValidationError(_("Move or delete its subgroups first."))
    if group.channels.exists():
        raise ValidationError(_("Move its channels to another group first."))
    if group.scoped_memberships.exists():
        raise ValidationError(_("Some members are limited to this group: change their scope first."))
    naming = ApprovalStep.objects.filter(approver_group=group).exclude(group=group).select_related("group").first()
    if naming is not None:
        raise ValidationError(
            _("The approval chain of “%(group)s” names this group: change that chain first.")
            % {"group": naming.group.name}
        )
    group.approval_steps.all().delete()
    group.delete()


# Approval chains -----------------------------------------------------------------------------------------

MAX_APPROVAL_STEPS = 10


@transaction.atomic
def add_approval_step(
    group: PageGroup, *, approver_group: PageGroup | None = None, approver_role: str = "", label: str = ""
) -> ApprovalStep:
    """Adds a step at the end of the group's approval chain: approved by the validators of `approver_group`, or by
    the people with `approver_role`."""
    if (approver_group is None) == (not approver_role):
        raise ValidationError({"approver": _("Choose who approves this step: a page group or a role.")})
    if approver_group is not None and approver_group.organisation_id != group.organisation_id:
        raise ValidationError({"approver": _("This group belongs to another organisation.")})
    if approver_role and approver_role not in dict(APPROVER_ROLES):
        raise ValidationError({"approver": _("This role cannot approve posts.")})
    steps = list(PageGroup.objects.select_for_update().get(pk=group.pk).approval_steps.all())
    if len(steps) >= MAX_APPROVAL_STEPS:
        raise ValidationError(
            _("A chain has at most %(count)s steps.") % {"count": MAX_APPROVAL_STEPS}, code="too_many"
        )
    if any(
        s.approver_group_id == getattr(approver_group, "pk", None) and s.approver_role == approver_role for s in steps
    ):
        raise ValidationError({"approver": _("This chain already has a step approved by them.")})
    step = ApprovalStep(
        group=group,
        position=len(steps) + 1,
        approver_group=approver_group,
        approver_role=approver_role,
        label=label.strip(),
    )
    step.full_clean(exclude=["group", "approver_group"])
    step.save()
    return step


@transaction.atomic
def move_approval_step(step: ApprovalStep, offset: int) -> None:
    """Moves a step one place earlier (offset -1) or later (+1) in its chain."""
    steps = list(PageGroup.objects.select_for_update().get(pk=step.group_id).approval_steps.all())
    index = next(i for i, s in enumerate(steps) if s.pk == step.pk)
    other = index + offset
    if offset not in (-1, 1) or not 0 <= other < len(steps):
        return
    steps[index], steps[other] = steps[other], steps[index]
    _renumber(steps)


@transaction.atomic
def remove_approval_step(step: ApprovalStep) -> None:
    steps = list(PageGroup.objects.select_for_update().get(pk=step.group_id).approval_steps.exclude(pk=step.pk))
    step.delete()
    _renumber(steps)


def _renumber(steps: list[ApprovalStep]) -> None:
    """Positions 1…n in the given order (through free numbers first: one step per position at every moment)."""
    for offset, step in enumerate(steps, start=1000):
        ApprovalStep.objects.filter(pk=step.pk).update(position=offset)
    for position, step in enumerate(steps, start=1):
        ApprovalStep.objects.filter(pk=step.pk).update(position=position)
        step.position = position


# Members and invitations ----------------------------------------------------------------------------------


def _check_scope(organisation: Organisation, role: str, groups: Iterable[PageGroup]) -> list[PageGroup]:
    groups = list(groups)
    if any(group.organisation_id != organisation.pk for group in groups):
        raise ValidationError({"groups": _("This group belongs to another organisation.")})
    if role == Role.ADMIN and groups:
        raise ValidationError({"groups": _("An admin acts on the whole organisation and cannot be limited.")})
    return groups


def _admin_count(organisation: Organisation) -> int:
    return organisation.memberships.filter(role=Role.ADMIN).count()


def invite_member(
    organisation: Organisation, *, inviter, email: str, role: str, groups: Iterable[PageGroup] = ()
) -> Invitation:
    email = User.objects.normalize_email(email).strip().lower()
    groups = _check_scope(organisation, role, groups)
    if organisation.memberships.filter(user__email__iexact=email).exists():
        raise ValidationError({"email": _("This person is already a member of the organisation.")})
    with transaction.atomic():
        open_invitations = organisation.invitations.filter(
            email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        )
        if open_invitations.filter(expires_at__gt=timezone.now()).exists():
            raise ValidationError(
                {"email": _("An invitation is already waiting for this address. You can send it again.")}
            )
        open_invitations.update(revoked_at=timezone.now())  # expired ones make way for the new one
        invitation = Invitation(organisation=organisation, email=email, role=role, invited_by=inviter)
        invitation.full_clean(exclude=["token", "invited_by"])
        try:
            invitation.save()
        except IntegrityError as exc:  # a concurrent invitation for the same address
            raise ValidationError({"email": _("An invitation is already waiting for this address.")}) from exc
        invitation.groups.set(groups)
        transaction.on_commit(lambda: send_invitation_email(invitation))
    return invitation


def send_invitation_email(invitation: Invitation) -> None:
    organisation = invitation.organisation
    with translation.override(organisation.language):
        context = {"invitation": invitation, "organisation": organisation, "url": invitation.accept_url()}
        subject = _("Invitation to join %(organisation)s on Beffroi") % {"organisation": organisation.name}
        body = render_to_string("organisations/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])


@transaction.atomic
def resend_invitation(invitation: Invitation) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError(_("This invitation is no longer open."))
    invitation.expires_at = Invitation._meta.get_field("expires_at").get_default()
    invitation.save(update_fields=["expires_at"])
    transaction.on_commit(lambda: send_invitation_email(invitation))


@transaction.atomic
def revoke_invitation(invitation: Invitation) -> None:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


def find_usable_invitation(token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("organisation").filter(token=token).first()
    return invitation if invitation and invitation.is_usable else None


@transaction.atomic
def accept_invitation(invitation: Invitation, *, user=None, full_name: str = "", password: str = "") -> Membership:
    """Joins the organisation: as the logged-in person, or as a new person created from the form."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_usable:
        raise ValidationError(_("This invitation has expired or was already used."))
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ValidationError(_("An account already exists for this address: log in to accept."))
        user = User(email=invitation.email, full_name=full_name.strip())
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save()
        from allauth.account.models import EmailAddress

        # The invitation link proved the address.
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    elif user.email.lower() != invitation.email.lower():
        raise ValidationError(
            _("This invitation was sent to %(email)s. Log in with that address to accept it.")
            % {"email": invitation.email}
        )
    if invitation.organisation.memberships.filter(user=user).exists():
        raise ValidationError(_("You are already a member of this organisation."))
    membership = Membership.objects.create(organisation=invitation.organisation, user=user, role=invitation.role)
    membership.groups.set(invitation.groups.all())
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def change_membership(membership: Membership, *, role: str, groups: Iterable[PageGroup]) -> None:
    groups = _check_scope(membership.organisation, role, groups)
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if membership.role == Role.ADMIN and role != Role.ADMIN and _admin_count(membership.organisation) <= 1:
        raise ValidationError({"role": _("The organisation needs at least one admin.")})
    membership.role = role
    membership.save(update_fields=["role"])
    membership.groups.set(groups)


@transaction.atomic
def remove_membership(membership: Membership) -> None:
    if membership.role == Role.ADMIN and _admin_count(membership.organisation) <= 1:
        raise ValidationError(_("The organisation needs at least one admin."))
    membership.delete()


def _chain_owner(group: PageGroup, steps_by_group: dict[int, list[ApprovalStep]]) -> PageGroup | None:
    """The group whose chain applies to the pages of `group`: itself, else its nearest ancestor with one."""
    for candidate in [group, *group.ancestors()]:
        if steps_by_group.get(candidate.pk):
            return candidate
    return None


def _steps_by_group(organisation_id: int) -> dict[int, list[ApprovalStep]]:
    steps: dict[int, list[ApprovalStep]] = {}
    for step in ApprovalStep.objects.filter(group__organisation_id=organisation_id).select_related(
        "approver_group", "group"
    ):
        steps.setdefault(step.group_id, []).append(step)
    return steps


def approval_chain_of(group: PageGroup) -> dict:
    """For the group's settings page: its own chain (with who may approve each step), or the chain it inherits."""
    steps_by_group = _steps_by_group(group.organisation_id)
    own = steps_by_group.get(group.pk, [])
    memberships = list(
        group.organisation.memberships.filter(role=Role.VALIDATOR).select_related("user").prefetch_related("groups")
    )
    for step in own:
        # Admins may approve every step; the page names the others, so an admin sees a step nobody else can take.
        step.approver_names = sorted(str(m.user) for m in memberships if step.allows(m, group.pk))
    owner = None if own else _chain_owner(group, steps_by_group)
    return {
        "steps": own,
        "inherited_from": owner,
        "inherited_steps": steps_by_group.get(owner.pk, []) if owner else [],
    }


def approval_chains_summary(organisation: Organisation) -> dict[int, dict]:
    """For the list of groups: per group, the chain that applies and whether it is its own."""
    steps_by_group = _steps_by_group(organisation.pk)
    summary = {}
    for group in PageGroup.objects.filter(organisation=organisation).select_related("parent__parent"):
        owner = _chain_owner(group, steps_by_group)
        if owner is not None:
            summary[group.pk] = {
                "own": owner.pk == group.pk,
                "owner": owner,
                "labels": [step.display_label() for step in steps_by_group[owner.pk]],
            }
    return summary
