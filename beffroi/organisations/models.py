"""Tenancy: organisations, their page groups (national → regional → local), memberships and invitations."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beffroi.core.timezones import validate_time_zone
from beffroi.organisations.roles import Action, Role, role_allows


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("short name"), max_length=60, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris", validators=[validate_time_zone])
    language = models.CharField(
        _("default language"), max_length=8, default="fr", choices=[("fr", "Français"), ("en", "English")]
    )
    is_demo = models.BooleanField(_("demo organisation"), default=False)
    # The same post on two of the organisation's pages of one network within this many hours is flagged (the
    # same fans would get it twice); 0 turns the check off.
    duplicate_window_hours = models.PositiveSmallIntegerField(_("duplicate window (hours)"), default=48)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class PageGroup(models.Model):
    """A group of pages: the national page, a region, a local centre. Groups form a small tree."""

    class Level(models.IntegerChoices):
        NATIONAL = 1, _("National")
        REGIONAL = 2, _("Regional")
        LOCAL = 3, _("Local")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="groups")
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent group"),
    )
    name = models.CharField(_("name"), max_length=120)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.LOCAL)

    class Meta:
        ordering = ["level", "name"]
        verbose_name = _("page group")
        verbose_name_plural = _("page groups")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unique_group_name_per_organisation")
        ]

    def __str__(self) -> str:
        return self.name

    def ancestors(self) -> list[PageGroup]:
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def path_label(self) -> str:
        return " › ".join(group.name for group in [*reversed(self.ancestors()), self])


# Roles a chain step may name: those allowed to approve at all (roles.py).
APPROVER_ROLES = [(role.value, role.label) for role in Role if role_allows(role, Action.APPROVE)]


class ApprovalStep(models.Model):
    """One step of a page group's approval chain: posts to the group's pages (and to the groups below it that have
    no chain of their own) are scheduled only once every step, in order, is approved.

    A step names who approves it: the validators of another page group (e.g. "Service des affaires publiques"),
    or a role in the organisation. Admins may approve any step (they may do everything)."""

    group = models.ForeignKey(PageGroup, on_delete=models.CASCADE, related_name="approval_steps")
    position = models.PositiveSmallIntegerField(_("position"))
    approver_group = models.ForeignKey(
        PageGroup,
        on_delete=models.PROTECT,  # a group named by a step is not deleted silently (services say why)
        null=True,
        blank=True,
        related_name="approving_steps",
        verbose_name=_("approved by the validators of"),
    )
    approver_role = models.CharField(_("approved by the role"), max_length=16, choices=APPROVER_ROLES, blank=True)
    label = models.CharField(_("label"), max_length=120, blank=True)

    class Meta:
        ordering = ["group", "position"]
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        constraints = [
            models.UniqueConstraint(fields=["group", "position"], name="one_approval_step_per_position"),
            models.CheckConstraint(
                condition=(Q(approver_group__isnull=False) & Q(approver_role=""))
                | (Q(approver_group__isnull=True) & ~Q(approver_role="")),
                name="approval_step_names_one_approver",
            ),
        ]

    def __str__(self) -> str:
        return self.display_label()

    def approver_label(self) -> str:
        if self.approver_group_id:
            return str(_("Validators of “%(group)s”") % {"group": self.approver_group.name})
        return str(_("Role: %(role)s") % {"role": Role(self.approver_role).label})

    def display_label(self) -> str:
        return self.label or (
            self.approver_group.name if self.approver_group_id else str(Role(self.approver_role).label)
        )

    def allows(self, membership: Membership, channel_group_id: int | None) -> bool:
        """May this person approve this step for a page of `channel_group_id`?"""
        if not membership.can(Action.APPROVE) or membership.organisation_id != self.group.organisation_id:
            return False
        if membership.role == Role.ADMIN:
            return True
        scope = membership.scope_group_ids()
        if self.approver_group_id:
            # The group's own validators: people limited to it (or to a group above it). Validators of the whole
            # organisation are not "of" the group, or the step would ask nothing more than a plain approval.
            return scope is not None and self.approver_group_id in scope
        return membership.role == self.approver_role and (scope is None or channel_group_id in scope)


def descendant_ids(organisation_id: int, root_ids: set[int]) -> set[int]:
    """The given groups and every group below them (one query; trees are small)."""
    children: dict[int | None, list[int]] = {}
    for group_id, parent_id in PageGroup.objects.filter(organisation_id=organisation_id).values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(group_id)
    found, stack = set(), list(root_ids)
    while stack:
        group_id = stack.pop()
        if group_id in found:
            continue
        found.add(group_id)
        stack.extend(children.get(group_id, []))
    return found


class Membership(models.Model):
    """A person's role in one organisation, optionally limited to some page groups (and those below them)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.EDITOR)
    groups = models.ManyToManyField(
        PageGroup,
        blank=True,
        related_name="scoped_memberships",
        verbose_name=_("limited to these page groups"),
        help_text=_("Leave empty for the whole organisation."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "user__email"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="one_membership_per_person")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"

    def can(self, action: Action) -> bool:
        return role_allows(self.role, action)

    def scope_group_ids(self) -> set[int] | None:
        """None for the whole organisation, else the ids of the groups this person may act on."""
        if not hasattr(self, "_scope_cache"):
            roots = set(self.groups.values_list("id", flat=True))
            self._scope_cache = descendant_ids(self.organisation_id, roots) if roots else None
        return self._scope_cache


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _default_expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_VALIDITY_DAYS)


class Invitation(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.EDITOR)
    groups = models.ManyToManyField(PageGroup, blank=True, verbose_name=_("limited to these page groups"))
    token = models.CharField(max_length=64, unique=True, default=_new_token, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_default_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation}"

    @property
    def is_usable(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    def accept_url(self) -> str:
        return f"{settings.BASE_URL}/invitations/{self.token}/"
