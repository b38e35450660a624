"""Bulk CSV import (dry run, then all-or-nothing) and export of posts."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing import bulk
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.services import create_and_schedule_post
from beffroi.publishing.states import State

HEADER = ["date", "time", "time_zone", "channels", "text", "link", "first_comment", "fold", "duplicate_reason"]
# 2031: clocks go forward on 9 March in America, 30 March in Europe; back on 26 October in Europe.
PARIS_GAP_DAY = "2031-03-30"
AMERICA_GAP_DAY = "2031-03-09"
PARIS_FALL_BACK_DAY = "2031-10-26"


def _csv(rows: list[list[str]], *, delimiter: str = ",", bom: bool = False, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode()


@pytest.fixture
def setup(tenant_a, tenant_b, mastodon_channels):
    """Channels of organisation A: two Mastodon (Paris, Montreal), an Atom feed, a disabled Mastodon."""
    paris, montreal = mastodon_channels()
    atom = Channel.objects.create(
        organisation=tenant_a.organisation, group=tenant_a.local, network=Network.ATOM, display_name="Site feed"
    )
    disabled = Channel.objects.create(
        organisation=tenant_a.organisation,
        group=tenant_a.local,
        network=Network.MASTODON,
        display_name="Old account",
        status=Channel.Status.DISABLED,
        config={"instance_url": "http://127.0.0.1:9"},
    )
    admin = Membership.objects.get(user=tenant_a.member(Role.ADMIN))
    return {"paris": paris, "montreal": montreal, "atom": atom, "disabled": disabled, "admin": admin, "b": tenant_b}


def _good_row(n: int, s: dict) -> list[str]:
    """Varied good rows: names, ids, two channels, explicit zones, a link, a first comment, a repeated hour."""
    day = f"2031-{(n % 12) + 1:02d}-{(n % 27) + 1:02d}"
    kind = n % 6
    if kind == 0:
        return [day, "09:30", "", "Mastodon 0", f"Post {n}", "", "", ""]
    if kind == 1:
        return [day, "14:00", "", "Mastodon 1|Site feed", f"Post {n}; avec « guillemets », et virgule", "", "", ""]
    if kind == 2:
        return [day, "08:15", "Europe/Paris", str(s["paris"].pk), f"Post {n}", "https://example.org/a", "", ""]
    if kind == 3:
        return [day, "23:59", "Asia/Tokyo", f"{s['atom'].pk}|Mastodon 0", f"Ligne 1\nLigne 2 — {n}", "", "Voir", ""]
    if kind == 4:
        return [PARIS_FALL_BACK_DAY, "02:30", "", "Mastodon 0", f"Post {n} (second 02:30)", "", "", "1"]
    return [day, "7:05", "", " Site feed ", f"Post {n}", "", "", "0"]


def _bad_rows(s: dict) -> list[tuple[list[str], list[str], str, str]]:
    """(bad row, fixed row, column, part of the reason) — 20 different ways to get a row wrong."""
    b_channel = s["b"].channel
    fine = ["2031-06-03", "10:00", "", "Mastodon 0", "Bonjour", "", "", ""]

    def with_(**changes) -> list[str]:
        row = list(fine)
        for key, value in changes.items():
            row[HEADER.index(key)] = value
        return row

    return [
        (with_(channels="Nobody"), fine, "channels", "Unknown channel: “Nobody”."),
        (with_(date="2020-01-01"), fine, "time", "This time is in the past"),
        (with_(date=PARIS_GAP_DAY, time="02:30"), fine, "time", "02:30 does not exist on"),
        (with_(text=""), fine, "text", "Write something to publish."),
        (with_(text="x" * 501), fine, "text", "Too long for Mastodon"),
        (with_(date="03/06/2031"), fine, "date", "is not a date: write it as YYYY-MM-DD"),
        (with_(time_zone="Europe/Lyon"), fine, "time_zone", "is not a known time zone"),
        (with_(channels="Old account"), fine, "channels", "“Old account” is disabled"),
        (with_(channels=b_channel.display_name), fine, "channels", "Unknown channel: “b page”."),
        (with_(time="25:00"), fine, "time", "is not a time of the day"),
        (with_(time="9h30"), fine, "time", "is not a time: write it as HH:MM"),
        (with_(fold="2"), fine, "fold", "write 1 for the second occurrence"),
        (with_(date="2031-02-30"), fine, "date", "is not a date of the calendar"),
        (with_(channels=""), fine, "channels", "Choose at least one channel."),
        (with_(link="not a link"), fine, "link", "Enter a valid URL."),
        (with_(date=AMERICA_GAP_DAY, time="02:15", channels="Mastodon 1"), fine, "time", "America/Montreal"),
        (with_(date=AMERICA_GAP_DAY, time="02:45", time_zone="America/New_York"), fine, "time", "does not exist"),
        (with_(channels=str(b_channel.pk)), fine, "channels", f"Unknown channel: “{b_channel.pk}”."),
        (with_(text="   "), fine, "text", "Write something to publish."),
        (with_(channels="Mastodon 0|Site feed", text="y" * 600), fine, "text", "Mastodon 0 : Too long for Mastodon"),
    ]


def _five_hundred(s: dict, *, fixed: bool) -> tuple[bytes, dict[int, tuple[str, str]]]:
    """500 rows, 20 of them bad (spread through the file) unless `fixed`; the bad ones' line → (column, reason)."""
    bad = _bad_rows(s)
    positions = {10 + 24 * i: case for i, case in enumerate(bad)}  # data row index → case
    rows, expected = [], {}
    for index in range(500):
        if index in positions:
            bad_row, fixed_row, column, reason = positions[index]
            rows.append(fixed_row if fixed else bad_row)
            expected[index + 2] = (column, reason)  # header = line 1, first row = line 2
        else:
            rows.append(_good_row(index, s))
    return _csv(rows), expected


@pytest.mark.django_db
def test_the_dry_run_names_each_bad_row_and_counts_the_good_ones_then_all_or_nothing(setup):
    admin = setup["admin"]
    data, expected = _five_hundred(setup, fixed=False)
    assert len(expected) == 20
    with translation.override("en"):
        started = time.perf_counter()
        report = bulk.dry_run(admin, data)
        elapsed = time.perf_counter() - started
    print(f"dry run of 500 rows: {elapsed:.2f} s")
    assert Post.objects.count() == 0 and Publication.objects.count() == 0  # a dry run writes nothing
    assert report.rows == 500 and report.good == 480 and report.bad == 20
    assert report.bad_lines == sorted(expected)
    for problem in report.problems:
        column, reason = expected[problem.line]
        assert problem.column == column, problem
    for line, (column, reason) in expected.items():
        messages = [p.message for p in report.problems if p.line == line]
        assert any(reason in message for message in messages), (line, reason, messages)

    # Confirming a file with bad rows creates nothing, and says why.
    with translation.override("en"), pytest.raises(bulk.ImportRefused) as refused:
        bulk.import_posts(admin, data)
    assert refused.value.report.bad_lines == sorted(expected)
    assert "20 of 500 rows have problems" in refused.value.messages[0]
    assert Post.objects.count() == 0 and Publication.objects.count() == 0

    # The 20 rows corrected: exactly 500 posts, with their publications.
    fixed, _expected = _five_hundred(setup, fixed=True)
    assert bulk.dry_run(admin, fixed).ok
    posts = bulk.import_posts(admin, fixed)
    assert len(posts) == 500 and Post.objects.count() == 500
    rows = list(csv.reader(io.StringIO(fixed.decode())))[1:]
    assert Publication.objects.count() == sum(len(row[3].split("|")) for row in rows)
    assert set(Publication.objects.values_list("state", flat=True)) == {State.SCHEDULED}
    repeated = Publication.objects.filter(post__text="Post 4 (second 02:30)").get()
    assert (repeated.scheduled_local, repeated.scheduled_fold) == ("2031-10-26T02:30", 1)
    assert repeated.due_at == datetime.fromisoformat("2031-10-26T01:30+00:00")  # 02:30 CET, the second one
    tokyo = Publication.objects.filter(post__text="Ligne 1\nLigne 2 — 3", channel=setup["atom"]).get()
    assert tokyo.scheduled_tz == "Asia/Tokyo" and tokyo.post.first_comment == "Voir"
    two_zones = Post.objects.get(text__startswith="Post 1;")
    assert {p.scheduled_tz for p in two_zones.publications.all()} == {"America/Montreal", "Europe/Paris"}


@pytest.mark.django_db
def test_rows_are_checked_against_the_rows_before_them_in_the_dry_run_as_in_the_import(setup):
    """The duplicate guard sees the posts of earlier rows: the dry run refuses what the import would refuse."""
    text = "Grande braderie de printemps samedi sur la place du marché"
    rows = [
        ["2031-06-03", "09:30", "", "Mastodon 0", text, "", "", ""],
        ["2031-06-03", "11:00", "", "Mastodon 1", text, "", "", ""],
    ]
    with translation.override("en"):
        report = bulk.dry_run(setup["admin"], _csv(rows))
        assert [(p.line, p.column) for p in report.problems] == [(3, "channels")]
        assert "the same post is already planned on “Mastodon 0”" in report.problems[0].message
        with pytest.raises(bulk.ImportRefused):
            bulk.import_posts(setup["admin"], _csv(rows))
    rows[1].append("Deux publics")
    assert bulk.dry_run(setup["admin"], _csv(rows)).ok
    assert len(bulk.import_posts(setup["admin"], _csv(rows))) == 2
    assert Post.objects.get(publications__channel=setup["montreal"]).duplicate_reason == "Deux publics"


@pytest.mark.django_db
def test_messages_are_in_the_viewers_language(setup):
    data = _csv([["2031-06-03", "10:00", "", "Personne", "Bonjour", "", "", ""]])
    with translation.override("fr"):
        report = bulk.dry_run(setup["admin"], data)
    assert report.problems[0].line == 2 and report.problems[0].column == "channels"
    assert "Personne" in report.problems[0].message


@pytest.mark.django_db
def test_semicolons_and_a_bom_as_french_excel_writes_them(setup):
    data = _csv(
        [["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour, le monde ; à demain", "", "", ""]],
        delimiter=";",
        bom=True,
    )
    assert bulk.dry_run(setup["admin"], data).good == 1
    [post] = bulk.import_posts(setup["admin"], data)
    assert post.text == "Bonjour, le monde ; à demain"


@pytest.mark.django_db
def test_a_file_with_only_the_required_columns_and_blank_lines(setup):
    data = (
        b"Date,Time,Channels,Text\r\n\r\n"
        b"2031-06-03,09:30,Mastodon 0,Bonjour\r\n,,,\r\n"
        b"2031-06-04,09:30,Mastodon 1,Salut\r\n"
    )
    report = bulk.dry_run(setup["admin"], data)
    assert report.rows == 2 and report.good == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_csv([], header=[*HEADER, "colour", "author"]), "Unknown columns: “colour”, “author”."),
        (_csv([], header=["date", "channels", "text"]), "Missing columns: “time”."),
        (_csv([], header=[*HEADER, "date"]), "Columns named twice: “date”."),
        (_csv([]), "The file has no rows under its header."),
        (b"", "The file is empty."),
        ("date,time,channels,text\n2031-06-03,09:30,Mastodon 0,Caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
        (b"x" * (bulk.MAX_BYTES + 1), "The file is too big: at most 5 MB."),
    ],
)
def test_files_refused_as_a_whole(setup, data, message):
    with translation.override("en"), pytest.raises(ValidationError) as error:
        bulk.dry_run(setup["admin"], data)
    assert message in error.value.messages[0]


@pytest.mark.django_db
def test_too_many_rows(setup):
    rows = [["2031-06-03", "09:30", "", "Mastodon 0", f"Post {n}", "", "", ""] for n in range(bulk.MAX_ROWS + 1)]
    with translation.override("en"), pytest.raises(ValidationError) as error:
        bulk.dry_run(setup["admin"], _csv(rows))
    assert "Too many rows: at most 5000 posts per file" in error.value.messages[0]
    assert Post.objects.count() == 0


@pytest.mark.django_db
def test_a_channel_name_of_another_organisation_is_an_unknown_channel(setup, tenant_b):
    b_admin = Membership.objects.get(user=tenant_b.member(Role.ADMIN))
    data = _csv([["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour", "", "", ""]])
    with translation.override("en"):
        report = bulk.dry_run(b_admin, data)  # "Mastodon 0" is organisation A's
    assert report.problems[0].message == "Unknown channel: “Mastodon 0”."
    assert bulk.dry_run(b_admin, _csv([["2031-06-03", "09:30", "", "b page", "Bonjour", "", "", ""]])).ok


@pytest.mark.django_db
def test_an_editors_import_awaits_approval(setup, tenant_a):
    editor = Membership.objects.get(user=tenant_a.member(Role.EDITOR))
    posts = bulk.import_posts(
        editor, _csv([["2031-06-03", "09:30", "", "Mastodon 0|Site feed", "Bonjour", "", "", ""]])
    )
    assert {p.state for p in posts[0].publications.all()} == {State.AWAITING_APPROVAL}


@pytest.mark.django_db
def test_export_then_import_gives_the_same_posts(setup):
    admin, paris, montreal, atom = setup["admin"], setup["paris"], setup["montreal"], setup["atom"]
    create_and_schedule_post(
        admin,
        text="Deux fuseaux",
        channel_ids=[paris.pk, montreal.pk],
        local=datetime(2031, 6, 3, 9, 0),
        duplicate_reason="Deux publics",
    )
    create_and_schedule_post(
        admin,
        text='=SUM(A1) "cité"; ligne\nsuivante',
        channel_ids=[atom.pk],
        local=datetime(2031, 10, 26, 2, 30),
        zone="Europe/Paris",
        fold=1,
        link="https://example.org/p?a=1&b=2",
        first_comment="-5 % aujourd'hui",
    )
    create_and_schedule_post(
        admin, text="Tokyo", channel_ids=[paris.pk], local=datetime(2031, 7, 1, 23, 0), zone="Asia/Tokyo"
    )

    def snapshot() -> list[tuple]:
        return sorted(
            (
                p.post.text,
                p.post.link,
                p.post.first_comment,
                p.post.duplicate_reason,
                p.channel_id,
                p.state,
                p.due_at,
                p.scheduled_local,
                p.scheduled_tz,
                p.scheduled_fold,
            )
            for p in Publication.objects.select_related("post")
        )

    before = snapshot()
    exported = bulk.export_posts(admin, Publication.objects.all(), delimiter=",")
    assert exported.startswith("\ufeff")
    assert "'=SUM(A1)" in exported  # not run as a formula by a spreadsheet
    assert len(list(csv.reader(io.StringIO(exported[1:])))) == 4  # header + one row per post
    Post.objects.all().delete()
    posts = bulk.import_posts(admin, exported.encode())
    assert len(posts) == 3
    assert snapshot() == before
    with translation.override("fr"):
        french = bulk.export_posts(admin, Publication.objects.all())
    assert french.startswith("\ufeffdate;time;")  # what French spreadsheets read
    Post.objects.all().delete()
    bulk.import_posts(admin, french.encode())
    assert snapshot() == before


@pytest.mark.django_db
def test_export_shows_only_what_the_person_may_see(setup, tenant_a, tenant_b):
    admin = setup["admin"]
    b_admin = Membership.objects.get(user=tenant_b.member(Role.ADMIN))
    create_and_schedule_post(admin, text="A secret", channel_ids=[setup["paris"].pk], local=datetime(2031, 6, 3, 9))
    assert "A secret" not in bulk.export_posts(b_admin, Publication.objects.all())


# ---------------------------------------------------------------------------------------------------- pages


def _pending_files() -> list[Path]:
    return list((Path(settings.DATA_DIR) / "imports").glob("*.csv"))


@pytest.mark.django_db
def test_page_flow_upload_report_confirm(setup, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = "en"
    url = f"/o/{tenant_a.organisation.slug}/publications/import/"
    assert client.get(url).status_code == 200
    rows = [
        ["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour", "", "", ""],
        ["2031-06-04", "09:30", "", "Nobody", "Salut", "", "", ""],
    ]
    before = set(_pending_files())
    page = client.post(url, {"file": SimpleUploadedFile("posts.csv", _csv(rows), "text/csv")})
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 row is ready to import." in html and "1 row has problems." in html
    assert "Unknown channel: “Nobody”." in html and "<td>3</td>" in html
    assert "Confirm import" not in html
    # Confirming anyway creates nothing.
    page = client.post(url + "confirm/")
    assert page.status_code == 200 and "Unknown channel" in page.content.decode()
    assert Post.objects.count() == 0

    page = client.post(url, {"file": SimpleUploadedFile("posts.csv", _csv(rows[:1]), "text/csv")})
    assert "Confirm import (1 post)" in page.content.decode()
    [pending] = set(_pending_files()) - before  # the first upload's file was replaced
    token = client.session[bulk_session_key()][tenant_a.organisation.slug]
    assert pending.name == f"{token}.csv"
    response = client.post(url + "confirm/")
    assert response.status_code == 302 and response["Location"] == f"/o/{tenant_a.organisation.slug}/publications/"
    assert Post.objects.get().text == "Bonjour"
    assert not pending.exists()
    # The same confirmation twice does not import twice.
    response = client.post(url + "confirm/")
    assert response.status_code == 302 and response["Location"] == url
    assert Post.objects.count() == 1


def bulk_session_key() -> str:
    from beffroi.publishing.views import IMPORT_SESSION_KEY

    return IMPORT_SESSION_KEY


@pytest.mark.django_db
def test_page_flow_upload_then_cancel_creates_nothing(setup, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.EDITOR))
    url = f"/o/{tenant_a.organisation.slug}/publications/import/"
    before = set(_pending_files())
    data = _csv([["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour", "", "", ""]])
    assert client.post(url, {"file": SimpleUploadedFile("posts.csv", data, "text/csv")}).status_code == 200
    [pending] = set(_pending_files()) - before
    response = client.post(url + "cancel/")
    assert response.status_code == 302
    assert not pending.exists() and Post.objects.count() == 0
    assert client.post(url + "confirm/").status_code == 302 and Post.objects.count() == 0
    assert client.get(url + "confirm/").status_code == 405


@pytest.mark.django_db
def test_page_refuses_a_bad_file_on_the_form(setup, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = "en"
    url = f"/o/{tenant_a.organisation.slug}/publications/import/"
    data = _csv([], header=["date", "when", "channels", "text"])
    page = client.post(url, {"file": SimpleUploadedFile("posts.csv", data, "text/csv")})
    assert page.status_code == 200 and "Unknown columns: “when”." in page.content.decode()
    assert bulk_session_key() not in client.session or not client.session[bulk_session_key()]


@pytest.mark.django_db
def test_pages_by_role_template_and_export(setup, tenant_a, client_for):
    slug = tenant_a.organisation.slug
    assert client_for(tenant_a.member(Role.ANALYST)).get(f"/o/{slug}/publications/import/").status_code == 403
    client = client_for(tenant_a.member(Role.ADMIN))
    listing = client.get(f"/o/{slug}/publications/").content.decode()
    assert f"/o/{slug}/publications/import/" in listing and f"/o/{slug}/publications/export.csv" in listing
    template = client.get(f"/o/{slug}/publications/import/template.csv")
    assert template.status_code == 200 and template["Content-Type"].startswith("text/csv")
    header = template.content.decode("utf-8-sig").splitlines()[0]
    assert header.replace(";", ",") == ",".join(HEADER)
    create_and_schedule_post(
        setup["admin"], text="Exportée", channel_ids=[setup["paris"].pk], local=datetime(2031, 6, 3, 9)
    )
    export = client.get(f"/o/{slug}/publications/export.csv?tab=scheduled")
    assert export.status_code == 200 and "Exportée" in export.content.decode()
    assert "attachment" in export["Content-Disposition"]
    assert "Exportée" not in client.get(f"/o/{slug}/publications/export.csv?tab=published").content.decode()
    assert (
        "Exportée" not in client.get(f"/o/{slug}/publications/export.csv?channel={setup['atom'].pk}").content.decode()
    )


# ---------------------------------------------------------------------------------------------------- API


@pytest.mark.django_db
def test_api_dry_run_import_and_export(setup, tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    base = f"/api/v1/organisations/{tenant_a.organisation.slug}/posts"
    good = _csv([["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour", "", "", ""]])
    bad = _csv([["2031-06-03", "09:30", "", "Nobody", "Bonjour", "", "", ""]])

    response = client.post(f"{base}/import", {"file": SimpleUploadedFile("p.csv", bad)})
    assert response.status_code == 200
    assert response.json()["good"] == 0 and response.json()["problems"][0]["line"] == 2
    response = client.post(f"{base}/import?dry_run=false", {"file": SimpleUploadedFile("p.csv", bad)})
    assert response.status_code == 422 and response.json()["report"]["bad"] == 1
    assert Post.objects.count() == 0
    response = client.post(f"{base}/import?dry_run=false", {"file": SimpleUploadedFile("p.csv", good)})
    assert response.status_code == 201 and response.json()["created"] == 1
    response = client.post(f"{base}/import?dry_run=false", {"file": SimpleUploadedFile("p.csv", b"")})
    assert response.status_code == 422 and response.json()["report"] is None
    assert client.post(f"{base}/import").status_code == 422

    export = client.get(f"{base}/export")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert "Bonjour" in export.content.decode()
    assert "Bonjour" not in client.get(f"{base}/export?state=published").content.decode()


@pytest.mark.django_db
def test_api_another_organisations_slug_is_a_404_before_reading_the_file(setup, tenant_b, client_for):
    client = client_for(tenant_b.member(Role.ADMIN))
    base = "/api/v1/organisations/org-a/posts"
    data = _csv([["2031-06-03", "09:30", "", "Mastodon 0", "Bonjour", "", "", ""]])
    response = client.post(f"{base}/import?dry_run=false", {"file": SimpleUploadedFile("p.csv", data)})
    assert response.status_code == 404 and Post.objects.count() == 0
    assert client.get(f"{base}/export").status_code == 404
