"""Organisation pages: home, overview, organisation settings, page groups, members and invitations.

Views stay thin: they check access (tenancy.organisation_view), validate a form and call a service.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from beffroi.channels.models import Channel
from beffroi.core.forms import add_service_errors
from beffroi.organisations import services
from beffroi.organisations.forms import (
    AcceptInvitationForm,
    ApprovalStepForm,
    InvitationForm,
    MembershipForm,
    OrganisationForm,
    OrganisationSettingsForm,
    PageGroupForm,
)
from beffroi.organisations.models import ApprovalStep, Membership, PageGroup
from beffroi.organisations.roles import ROLE_DESCRIPTIONS, Action, Role
from beffroi.organisations.tenancy import SESSION_KEY, organisation_view, require


@login_required
def home(request):
    """Goes to the last organisation used, else the only one, else offers to create one."""
    memberships = list(request.user.memberships.select_related("organisation"))
    last = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.organisation.slug == last:
            return redirect("dashboard", membership.organisation.slug)
    if len(memberships) == 1:
        return redirect("dashboard", memberships[0].organisation.slug)
    return render(request, "organisations/home.html", {"memberships": memberships})


@login_required
def organisation_new(request):
    form = OrganisationForm(request.POST or None, initial={"time_zone": "Europe/Paris", "language": "fr"})
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.create_organisation(creator=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Organisation created. You are its admin."))
            return redirect("dashboard", organisation.slug)
    return render(request, "organisations/organisation_new.html", {"form": form})


@organisation_view()
def dashboard(request):
    membership = request.membership
    channels = Channel.objects.visible_to(membership).select_related("group")
    return render(
        request,
        "organisations/dashboard.html",
        {
            "channels": channels,
            "tree": _group_tree(request.organisation),
            "attention": [c for c in channels if c.status == Channel.Status.NEEDS_RECONNECTION],
            "role_description": ROLE_DESCRIPTIONS[Role(membership.role)],
        },
    )


@organisation_view()
def settings_organisation(request):
    organisation = request.organisation
    can_manage = request.membership.can(Action.MANAGE_ORGANISATION)
    form = OrganisationSettingsForm(
        request.POST if request.method == "POST" and can_manage else None,
        initial={
            "name": organisation.name,
            "time_zone": organisation.time_zone,
            "language": organisation.language,
            "duplicate_window_hours": organisation.duplicate_window_hours,
        },
    )
    if request.method == "POST":
        require(request.membership, Action.MANAGE_ORGANISATION)
        if form.is_valid():
            try:
                services.update_organisation(organisation, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Organisation saved."))
                return redirect("settings", organisation.slug)
    return render(request, "organisations/settings_organisation.html", {"form": form, "can_manage": can_manage})


# Page groups ---------------------------------------------------------------------------------------------


@organisation_view()
def groups(request):
    organisation = request.organisation
    can_manage = request.membership.can(Action.MANAGE_GROUPS)
    form = PageGroupForm(request.POST or None, organisation=organisation)
    if request.method == "POST":
        require(request.membership, Action.MANAGE_GROUPS)
        if form.is_valid():
            try:
                services.save_page_group(organisation, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Page group created."))
                return redirect("settings_groups", organisation.slug)
    tree = _group_tree(organisation)
    chains = services.approval_chains_summary(organisation)
    tree = [(group, depth, chains.get(group.pk)) for group, depth in tree]
    return render(request, "organisations/groups.html", {"form": form, "tree": tree, "can_manage": can_manage})


def _group_tree(organisation) -> list[tuple[PageGroup, int]]:
    """Groups in tree order with their depth, for an indented list."""
    all_groups = list(PageGroup.objects.filter(organisation=organisation).prefetch_related("channels").order_by("name"))
    children: dict[int | None, list[PageGroup]] = {}
    for group in all_groups:
        children.setdefault(group.parent_id, []).append(group)
    ordered: list[tuple[PageGroup, int]] = []

    def walk(parent_id, depth):
        for group in children.get(parent_id, []):
            ordered.append((group, depth))
            walk(group.pk, depth + 1)

    walk(None, 0)
    return ordered


@organisation_view(Action.MANAGE_GROUPS)
def group_edit(request, group_id: int):
    organisation = request.organisation
    group = get_object_or_404(PageGroup, pk=group_id, organisation=organisation)
    form = PageGroupForm(
        request.POST or None,
        organisation=organisation,
        initial={"name": group.name, "level": group.level, "parent": group.parent_id},
    )
    form.fields["parent"].queryset = form.fields["parent"].queryset.exclude(pk=group.pk)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_page_group(organisation, group=group, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Page group saved."))
            return redirect("settings_groups", organisation.slug)
    return _group_page(request, group, form, ApprovalStepForm(organisation=organisation))


def _group_page(request, group: PageGroup, form, step_form, status: int = 200):
    return render(
        request,
        "organisations/group_edit.html",
        {"form": form, "group": group, "step_form": step_form, **services.approval_chain_of(group)},
        status=status,
    )


@require_POST
@organisation_view(Action.MANAGE_GROUPS)
def group_approval_add(request, group_id: int):
    """Adds a step at the end of the group's approval chain."""
    organisation = request.organisation
    group = get_object_or_404(PageGroup, pk=group_id, organisation=organisation)
    step_form = ApprovalStepForm(request.POST, organisation=organisation)
    if step_form.is_valid():
        try:
            services.add_approval_step(
                group, label=step_form.cleaned_data["label"], **step_form.cleaned_data["approver"]
            )
        except ValidationError as error:
            add_service_errors(step_form, error)
        else:
            messages.success(request, _("Approval step added."))
            return redirect(_chain_url(group))
    form = PageGroupForm(
        organisation=organisation, initial={"name": group.name, "level": group.level, "parent": group.parent_id}
    )
    return _group_page(request, group, form, step_form, status=400)


@require_POST
@organisation_view(Action.MANAGE_GROUPS)
def group_approval_step(request, group_id: int, step_id: int, verb: str):
    """Moves a step up or down in its chain, or removes it."""
    step = get_object_or_404(ApprovalStep, pk=step_id, group_id=group_id, group__organisation=request.organisation)
    if verb == "up":
        services.move_approval_step(step, -1)
    elif verb == "down":
        services.move_approval_step(step, 1)
    elif verb == "remove":
        services.remove_approval_step(step)
        messages.success(request, _("Approval step removed."))
    else:
        raise Http404
    return redirect(_chain_url(step.group))


def _chain_url(group: PageGroup) -> str:
    from django.urls import reverse

    return reverse("settings_group_edit", args=[group.organisation.slug, group.pk]) + "#approval-chain"


@require_POST
@organisation_view(Action.MANAGE_GROUPS)
def group_delete(request, group_id: int):
    group = get_object_or_404(PageGroup, pk=group_id, organisation=request.organisation)
    try:
        services.delete_page_group(group)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Page group “%(name)s” deleted.") % {"name": group.name})
    return redirect("settings_groups", request.organisation.slug)


# Members -------------------------------------------------------------------------------------------------


@organisation_view(Action.MANAGE_MEMBERS)
def members(request):
    organisation = request.organisation
    form = InvitationForm(request.POST or None, organisation=organisation, initial={"role": Role.EDITOR})
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite_member(organisation, inviter=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect("settings_members", organisation.slug)
    return render(
        request,
        "organisations/members.html",
        {
            "form": form,
            "memberships": organisation.memberships.select_related("user").prefetch_related("groups"),
            "invitations": organisation.invitations.pending().prefetch_related("groups"),
            "role_descriptions": [(Role(role).label, text) for role, text in ROLE_DESCRIPTIONS.items()],
        },
    )


@organisation_view(Action.MANAGE_MEMBERS)
def member_edit(request, membership_id: int):
    organisation = request.organisation
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, organisation=organisation
    )
    form = MembershipForm(
        request.POST or None,
        organisation=organisation,
        initial={"role": membership.role, "groups": list(membership.groups.all())},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.change_membership(membership, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Role of %(name)s saved.") % {"name": membership.user})
            return redirect("settings_members", organisation.slug)
    return render(request, "organisations/member_edit.html", {"form": form, "member": membership})


@require_POST
@organisation_view(Action.MANAGE_MEMBERS)
def member_remove(request, membership_id: int):
    membership = get_object_or_404(Membership, pk=membership_id, organisation=request.organisation)
    try:
        services.remove_membership(membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(name)s no longer belongs to the organisation.") % {"name": membership.user})
    return redirect("settings_members", request.organisation.slug)


@require_POST
@organisation_view(Action.MANAGE_MEMBERS)
def invitation_action(request, invitation_id: int, verb: str):
    if verb not in ("resend", "revoke"):
        raise Http404
    invitation = get_object_or_404(request.organisation.invitations, pk=invitation_id)
    try:
        if verb == "resend":
            services.resend_invitation(invitation)
            messages.success(request, _("Invitation sent again to %(email)s.") % {"email": invitation.email})
        else:
            services.revoke_invitation(invitation)
            messages.success(request, _("Invitation for %(email)s cancelled.") % {"email": invitation.email})
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("settings_members", request.organisation.slug)


def accept_invitation(request, token: str):
    invitation = services.find_usable_invitation(token)
    if invitation is None:
        return render(request, "organisations/invitation_invalid.html", status=404)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptInvitationForm(request.POST or None)
    error = None
    if request.method == "POST" and (signed_in or form.is_valid()):
        try:
            if signed_in:
                membership = services.accept_invitation(invitation, user=request.user)
            else:
                membership = services.accept_invitation(invitation, **form.cleaned_data)
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        except ValidationError as exc:
            if form is not None:
                add_service_errors(form, exc)
            else:
                error = " ".join(exc.messages)
        else:
            messages.success(
                request, _("Welcome to %(organisation)s.") % {"organisation": membership.organisation.name}
            )
            return redirect("dashboard", membership.organisation.slug)
    return render(
        request, "organisations/invitation_accept.html", {"invitation": invitation, "form": form, "error": error}
    )
