from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from beffroi.channels.models import Channel
from beffroi.demo.data import DEMO_PASSWORD, PEOPLE
from beffroi.organisations.models import Membership, Organisation, PageGroup
from beffroi.organisations.roles import Role


def _counts():
    return (
        Organisation.objects.count(),
        PageGroup.objects.count(),
        Channel.objects.count(),
        Membership.objects.count(),
    )


@pytest.mark.django_db
def test_demo_is_idempotent_and_has_one_person_per_role():
    out = io.StringIO()
    call_command("demo", stdout=out)
    first = _counts()
    call_command("demo", stdout=io.StringIO())
    assert _counts() == first
    assert {person.role for person in PEOPLE} == set(Role)
    for person in PEOPLE:
        assert person.email in out.getvalue()
    assert DEMO_PASSWORD in out.getvalue()
    bassin = Organisation.objects.get(slug="demo-bassin-minier")
    assert bassin.is_demo and bassin.name == "Centres sociaux connectés du Bassin minier"
    names = set(bassin.groups.values_list("name", flat=True))
    assert {"Valenciennes", "Douchy-les-Mines", "Cambrai", "Lille"} <= names
    assert bassin.groups.get(name="Valenciennes").parent.parent.level == PageGroup.Level.NATIONAL
    assert len(set(bassin.channels.values_list("network", flat=True))) >= 6
    editor = Membership.objects.get(user__email__startswith="redaction@", organisation=bassin)
    assert [g.name for g in editor.groups.all()] == ["Valenciennes"]


@pytest.mark.django_db
def test_first_run_flag_leaves_a_real_installation_alone():
    Organisation.objects.create(name="Real", slug="real")
    out = io.StringIO()
    call_command("demo", first_run=True, stdout=out)
    assert not Organisation.objects.filter(is_demo=True).exists()
    assert "not loaded" in out.getvalue()


@pytest.mark.django_db
def test_demo_admin_logs_in_and_sees_the_demo_labelled_as_such():
    call_command("demo", stdout=io.StringIO())
    client = Client()
    client.cookies["beffroi_language"] = "en"
    response = client.post("/accounts/login/", {"login": PEOPLE[0].email, "password": DEMO_PASSWORD}, follow=True)
    chooser = response.content.decode()  # the demo admin belongs to both demo organisations
    assert "Centres sociaux connectés du Bassin minier" in chooser and "SCC — Division du Québec" in chooser
    page = client.get("/o/demo-bassin-minier/").content.decode()
    assert "Demo organisation" in page and "Centre social de Valenciennes" in page
