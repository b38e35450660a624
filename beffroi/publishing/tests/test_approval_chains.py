"""Approval chains: a page group requires its posts to pass ordered steps, each approved by named people, before
they are scheduled; nobody approves a step they are not an approver of; sending back or editing starts again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from beffroi.organisations import services as org_services
from beffroi.organisations.forms import ApprovalStepForm
from beffroi.organisations.models import ApprovalStep, Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.approvals import Chains, awaiting_publications
from beffroi.publishing.models import Publication, StepApproval
from beffroi.publishing.services import (
    approve_post,
    create_and_schedule_post,
    edit_post_text,
    reject_post,
    reschedule_publication,
)
from beffroi.publishing.states import State

pytestmark = pytest.mark.django_db


def _as(tenant, role) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _in(hours: float):
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0)


@pytest.fixture
def channel(mastodon_channels):
    return mastodon_channels()[0]  # in tenant_a.local


@pytest.fixture
def submitted(tenant_a, chain, channel):
    return create_and_schedule_post(
        _as(tenant_a, Role.EDITOR), text="Sortie au musée", channel_ids=[channel.pk], local=_in(3)
    )


def _states(post) -> set[str]:
    return set(post.publications.values_list("state", flat=True))


def _pending(post) -> list[str]:
    chains = Chains.of(post.organisation_id)
    return [chains.pending_step(p).display_label() for p in awaiting_publications(post)]


def test_a_channel_follows_its_groups_chain_else_the_nearest_ancestors(tenant_a, chain):
    chains = Chains.of(tenant_a.organisation.pk)
    assert [s.pk for s in chains.for_group(tenant_a.local.pk)] == [chain.step_1.pk, chain.step_2.pk]
    assert chains.for_group(tenant_a.other_local.pk) == []  # its own group and its ancestors have none
    on_national = org_services.add_approval_step(tenant_a.national, approver_role=Role.ADMIN)
    chains = Chains.of(tenant_a.organisation.pk)
    assert [s.pk for s in chains.for_group(tenant_a.other_local.pk)] == [on_national.pk]  # inherited
    assert [s.pk for s in chains.for_group(tenant_a.local.pk)] == [chain.step_1.pk, chain.step_2.pk]  # its own


def test_a_member_of_the_second_steps_group_cannot_approve_the_first(tenant_a, chain, submitted):
    assert _states(submitted) == {State.AWAITING_APPROVAL}
    assert _pending(submitted) == ["Service des affaires publiques"]
    with pytest.raises(PermissionDenied) as refused:
        approve_post(chain.b, submitted)
    assert "Service des affaires publiques" in str(refused.value)
    with pytest.raises(PermissionDenied):
        reject_post(chain.b, submitted, comment="Non")
    assert _states(submitted) == {State.AWAITING_APPROVAL}
    assert not StepApproval.objects.exists()


def test_validators_of_the_whole_organisation_are_not_a_groups_validators(tenant_a, chain, submitted):
    with pytest.raises(PermissionDenied):
        approve_post(_as(tenant_a, Role.VALIDATOR), submitted)
    approve_post(_as(tenant_a, Role.ADMIN), submitted)  # admins may approve any step
    assert _pending(submitted) == ["Direction"]


def test_approving_both_steps_in_order_schedules_the_publications(tenant_a, chain, submitted):
    [publication] = approve_post(chain.a, submitted, comment="Bon pour nous")
    assert publication.state == State.AWAITING_APPROVAL  # one step of two
    assert _pending(submitted) == ["Direction"]
    [step] = StepApproval.objects.filter(publication=publication)
    assert (step.position, step.label, step.approver) == (1, "Service des affaires publiques", chain.a.user)
    with pytest.raises(PermissionDenied):
        approve_post(chain.a, submitted)  # step 2 is not theirs
    [publication] = approve_post(chain.b, submitted)
    publication.refresh_from_db()
    assert publication.state == State.SCHEDULED and publication.run_at == publication.due_at
    events = [(e.action, e.actor, e.detail) for e in submitted.events.all()]
    assert events == [
        ("submitted", tenant_a.member(Role.EDITOR), ""),
        ("step_approved", chain.a.user, "1. Service des affaires publiques: Mastodon 0"),
        ("approved", chain.b.user, "2. Direction: Mastodon 0"),
    ]
    with pytest.raises(ValidationError):
        approve_post(chain.b, submitted)  # nothing left to approve


def test_rejection_at_the_second_step_returns_the_post_to_its_author(
    tenant_a, chain, submitted, django_capture_on_commit_callbacks
):
    approve_post(chain.a, submitted)
    with django_capture_on_commit_callbacks(execute=True):
        reject_post(chain.b, submitted, comment="Ajoutez le prix de l'entrée.")
    assert _states(submitted) == {State.DRAFT}
    assert not StepApproval.objects.exists()  # submitted again, it starts from step 1
    rejection = [m for m in mail.outbox if m.to == [tenant_a.member(Role.EDITOR).email]]
    assert len(rejection) == 1 and "Ajoutez le prix" in rejection[0].body
    assert submitted.events.last().action == "rejected"
    assert submitted.events.last().detail == "Direction: Ajoutez le prix de l'entrée."


def test_a_sent_back_post_scheduled_again_goes_through_the_chain_again(tenant_a, chain, submitted):
    approve_post(chain.a, submitted)
    reject_post(chain.b, submitted, comment="Ajoutez le prix.")
    publication = submitted.publications.get()
    reschedule_publication(_as(tenant_a, Role.VALIDATOR), publication, local=_in(5))
    publication.refresh_from_db()
    assert publication.state == State.AWAITING_APPROVAL and publication.run_at is None
    assert _pending(submitted) == ["Service des affaires publiques"]


def test_a_failed_post_changed_since_its_approval_passes_the_chain_again(tenant_a, chain, submitted):
    approve_post(chain.a, submitted)
    approve_post(chain.b, submitted)
    Publication.objects.filter(post=submitted).update(state=State.FAILED)
    validator = _as(tenant_a, Role.VALIDATOR)
    edit_post_text(validator, submitted, text="Sortie au musée, nouvelle date")
    publication = submitted.publications.get()
    assert publication.state == State.FAILED  # changed, not sent
    reschedule_publication(validator, publication, local=_in(6))
    publication.refresh_from_db()
    assert publication.state == State.AWAITING_APPROVAL
    assert _pending(submitted) == ["Service des affaires publiques"]


def test_editing_a_partly_approved_post_restarts_its_chain(tenant_a, chain, submitted):
    approve_post(chain.a, submitted)
    edit_post_text(_as(tenant_a, Role.EDITOR), submitted, text="Sortie au musée, départ 9 h")
    assert _states(submitted) == {State.AWAITING_APPROVAL}
    assert _pending(submitted) == ["Service des affaires publiques"]
    assert [e.action for e in submitted.events.all()][-2:] == ["edited", "chain_restarted"]
    with pytest.raises(PermissionDenied):
        approve_post(chain.b, submitted)


def test_editing_an_approved_post_restarts_its_chain_whoever_edits(tenant_a, chain, submitted):
    approve_post(chain.a, submitted)
    approve_post(chain.b, submitted)
    assert _states(submitted) == {State.SCHEDULED}
    # A validator's edit of a post without a chain stays approved (test_approval.py); the group requires its chain.
    edit_post_text(_as(tenant_a, Role.VALIDATOR), submitted, text="Sortie au musée (corrigée)")
    publication = submitted.publications.get()
    assert publication.state == State.AWAITING_APPROVAL and publication.run_at is None
    assert _pending(submitted) == ["Service des affaires publiques"]


def test_a_validators_own_post_waits_for_the_chain_and_other_pages_are_scheduled(tenant_a, chain, channel):
    post = create_and_schedule_post(
        _as(tenant_a, Role.VALIDATOR),
        text="Assemblée générale",
        channel_ids=[channel.pk, tenant_a.other_channel.pk],  # local (chain) and other_local (none)
        local=_in(4),
        duplicate_reason="Deux publics",
    )
    states = dict(post.publications.values_list("channel_id", "state"))
    assert states == {channel.pk: State.AWAITING_APPROVAL, tenant_a.other_channel.pk: State.SCHEDULED}
    assert [e.action for e in post.events.all()] == ["scheduled", "submitted"]


def test_pages_without_a_chain_keep_a_single_approval_by_any_validator(tenant_a, chain):
    editor = _as(tenant_a, Role.EDITOR)
    post = create_and_schedule_post(editor, text="Atelier", channel_ids=[tenant_a.other_channel.pk], local=_in(2))
    with pytest.raises(ValidationError):
        approve_post(chain.a, post)  # a group's validator who does not see the page: nothing for them
    [publication] = approve_post(_as(tenant_a, Role.VALIDATOR), post)
    assert publication.state == State.SCHEDULED
    assert [e.action for e in post.events.all()] == ["submitted", "approved"]


def test_a_step_named_by_a_role(tenant_a, channel):
    org_services.add_approval_step(tenant_a.local, approver_role=Role.ADMIN, label="Présidence")
    post = create_and_schedule_post(_as(tenant_a, Role.EDITOR), text="Vœux", channel_ids=[channel.pk], local=_in(2))
    with pytest.raises(PermissionDenied):
        approve_post(_as(tenant_a, Role.VALIDATOR), post)
    approve_post(_as(tenant_a, Role.ADMIN), post)
    assert _states(post) == {State.SCHEDULED}


def test_a_time_passed_while_awaiting_a_step_is_never_published(tenant_a, chain, submitted):
    approve_post(chain.a, submitted)
    Publication.objects.filter(post=submitted).update(due_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(ValidationError):
        approve_post(chain.b, submitted)
    assert _states(submitted) == {State.AWAITING_APPROVAL}


def test_a_post_to_publish_now_goes_out_once_its_chain_is_approved(tenant_a, chain, channel):
    post = create_and_schedule_post(_as(tenant_a, Role.EDITOR), text="Urgent", channel_ids=[channel.pk], local=None)
    Publication.objects.filter(post=post).update(due_at=timezone.now() - timedelta(hours=2))
    approve_post(chain.a, post)
    [publication] = approve_post(chain.b, post)
    publication.refresh_from_db()
    assert publication.state == State.SCHEDULED
    assert abs((publication.due_at - timezone.now()).total_seconds()) < 60


def test_the_api_enforces_the_steps(tenant_a, chain, submitted, client_for):
    base = f"/api/v1/organisations/{tenant_a.organisation.slug}/posts/{submitted.pk}"
    # The second step's validator sees the post coming, and may not take the first step.
    refused = client_for(chain.b.user).post(f"{base}/approve", {}, content_type="application/json")
    assert refused.status_code == 403
    # The first step's validator does not see the page, and still finds the post awaiting them.
    approved = client_for(chain.a.user).post(f"{base}/approve", {}, content_type="application/json")
    assert approved.status_code == 200 and approved.json()[0]["state"] == State.AWAITING_APPROVAL
    rejected = client_for(chain.b.user).post(f"{base}/reject", {"comment": "Non"}, content_type="application/json")
    assert rejected.status_code == 200 and rejected.json()[0]["state"] == State.DRAFT


def test_the_steps_approver_finds_and_approves_the_post_in_the_pages(tenant_a, chain, submitted, client_for):
    slug = tenant_a.organisation.slug
    client = client_for(chain.a.user)
    awaiting = client.get(f"/o/{slug}/publications/?tab=awaiting").content.decode()
    assert f"/o/{slug}/posts/{submitted.pk}/approve/" in awaiting and "Étape 1 sur 2" in awaiting
    page = f"/o/{slug}/posts/{submitted.pk}/"
    response = client.post(f"{page}approve/", {"next": page})
    assert response.status_code == 302 and response.url == page
    assert _pending(submitted) == ["Direction"]
    # The second step's validator may not take the first step from the list either.
    later = client_for(chain.b.user).post(f"{page}approve/")
    assert later.status_code == 302 and _states(submitted) == {State.SCHEDULED}


def test_admins_configure_a_chain_on_the_group_page(tenant_a, client_for):
    admin = client_for(tenant_a.member(Role.ADMIN))
    admin.cookies["beffroi_language"] = "en"
    base = f"/o/{tenant_a.organisation.slug}/settings/groups/{tenant_a.local.pk}/"
    national, regional = tenant_a.national, tenant_a.regional
    assert admin.post(f"{base}approval/", {"approver": f"group:{national.pk}", "label": "Affaires"}).status_code == 302
    assert admin.post(f"{base}approval/", {"approver": "role:admin"}).status_code == 302
    assert admin.post(f"{base}approval/", {"approver": f"group:{regional.pk}"}).status_code == 302
    steps = list(ApprovalStep.objects.filter(group=tenant_a.local))
    admin_label = str(Role.ADMIN.label)
    assert [s.display_label() for s in steps] == ["Affaires", admin_label, regional.name]
    assert admin.post(f"{base}approval/{steps[2].pk}/up/").status_code == 302
    assert admin.post(f"{base}approval/{steps[0].pk}/remove/").status_code == 302
    labels = [s.display_label() for s in ApprovalStep.objects.filter(group=tenant_a.local)]
    assert labels == [regional.name, admin_label]
    assert list(ApprovalStep.objects.filter(group=tenant_a.local).values_list("position", flat=True)) == [1, 2]
    page = admin.get(base).content.decode()
    assert "Approval chain" in page and "Only the admins can approve this step" in page
    # Refused: no approver, the same approver twice, a role that cannot approve.
    for data in ({"approver": ""}, {"approver": "role:admin"}, {"approver": "role:editor"}):
        assert admin.post(f"{base}approval/", data).status_code == 400
    assert ApprovalStep.objects.filter(group=tenant_a.local).count() == 2
    groups_page = admin.get(f"/o/{tenant_a.organisation.slug}/settings/groups/").content.decode()
    assert f"1. {regional.name} → 2. Admin" in groups_page


def test_a_chain_names_groups_of_its_own_organisation_only(tenant_a, tenant_b):
    with pytest.raises(ValidationError):
        org_services.add_approval_step(tenant_a.local, approver_group=tenant_b.national)
    # The page's form does not offer it either.
    form = ApprovalStepForm({"approver": f"group:{tenant_b.national.pk}"}, organisation=tenant_a.organisation)
    assert not form.is_valid()


def test_a_group_named_by_a_chain_is_not_deleted(tenant_a, chain):
    chain.a.groups.clear()
    with pytest.raises(ValidationError) as refused:
        org_services.delete_page_group(chain.group_a)
    assert tenant_a.local.name in " ".join(refused.value.messages)
