"""Watched pages: adding an account (with the SSRF guard on typed servers), reading it through a PublicReader
passed in (no HTTP mocked), storing its posts once, saying why a read failed, and listing the best posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from beffroi.insights import watching
from beffroi.insights.base import SyncFailed, WatchedPost, WatchedProfile
from beffroi.insights.metrics import PostMetric, PostType
from beffroi.insights.models import WatchedAccount, WatchedPostRecord
from beffroi.organisations.roles import Role

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class FakeReader:
    """A PublicReader: answers with prepared profiles (or raises prepared errors), recording what it was asked."""

    def __init__(self, network: str, *answers) -> None:
        self.network = network
        self.answers = list(answers)
        self.calls: list[tuple[str, dict, int]] = []

    def read_public(self, http, handle, *, config, limit):
        self.calls.append((handle, config, limit))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def profile(likes: int = 10, *, posts: int = 3) -> WatchedProfile:
    return WatchedProfile(
        remote_id="did:plc:partner",
        handle="partner.bsky.social",
        display_name="Partenaire",
        url="https://bsky.app/profile/partner.bsky.social",
        followers=1200,
        posts=[
            WatchedPost(
                remote_id=f"at://did:plc:partner/app.bsky.feed.post/{n}",
                url=f"https://bsky.app/profile/partner.bsky.social/post/{n}",
                text=f"Post {n}",
                published_at=NOW - timedelta(days=n),
                post_type=PostType.PHOTO if n % 2 else PostType.TEXT,
                values={PostMetric.LIKES: likes * (n + 1), PostMetric.COMMENTS: n, PostMetric.SHARES: 2},
            )
            for n in range(posts)
        ],
    )


@pytest.fixture
def readable(monkeypatch):
    """Bluesky and Mastodon offer public readers; host names resolve to a public address."""
    readers = {"bluesky": FakeReader("bluesky"), "mastodon": FakeReader("mastodon")}
    monkeypatch.setattr(watching, "public_reader_for", lambda network: readers.get(network))
    monkeypatch.setattr(
        "beffroi.insights.watching.resolve_host",
        lambda host, port, **kw: [(2, 1, 6, "", ("151.101.2.10", port))] if host.endswith(".example") else [],
    )
    return readers


def test_reading_stores_the_account_and_its_posts_once(tenant_a, readable):
    account = watching.add_watched(
        tenant_a.organisation, tenant_a.member(Role.ADMIN), "bluesky", "@partner.bsky.social"
    )
    assert account.handle == "partner.bsky.social" and account.server == ""
    reader = FakeReader("bluesky", profile(10), profile(20))
    assert watching.read_account(account, reader=reader, http=object(), now=NOW)
    account.refresh_from_db()
    assert (account.display_name, account.followers, account.remote_id) == ("Partenaire", 1200, "did:plc:partner")
    assert account.read_at == NOW and account.last_error == ""
    handle, config, _limit = reader.calls[0]
    assert handle == "partner.bsky.social" and config["server"] == watching.BLUESKY_PUBLIC_API
    first = WatchedPostRecord.objects.get(account=account, remote_id__endswith="/0")
    assert (first.likes, first.comments, first.shares, first.interactions) == (10, 0, 2, 12)
    # Read again: the same posts, updated, not duplicated.
    assert watching.read_account(account, reader=reader, http=object(), now=NOW)
    assert WatchedPostRecord.objects.filter(account=account).count() == 3
    first.refresh_from_db()
    assert first.likes == 20 and first.interactions == 22


def test_a_failed_read_keeps_what_was_stored_and_says_why(tenant_a, readable):
    account = watching.add_watched(tenant_a.organisation, None, "bluesky", "partner.bsky.social")
    reader = FakeReader(
        "bluesky",
        profile(),
        httpx.ConnectError("connection refused"),
        SyncFailed("Profile not found"),
        httpx.ReadTimeout("slow"),
    )
    watching.read_account(account, reader=reader, http=object(), now=NOW)
    assert not watching.read_account(account, reader=reader, http=object(), now=NOW)
    account.refresh_from_db()
    assert "could not be reached" in account.last_error and "connection refused" in account.last_error
    assert account.followers == 1200 and WatchedPostRecord.objects.filter(account=account).count() == 3
    watching.read_account(account, reader=reader, http=object(), now=NOW)
    account.refresh_from_db()
    assert "refused to read this account: Profile not found" in account.last_error
    watching.read_account(account, reader=reader, http=object(), now=NOW)
    account.refresh_from_db()
    assert "did not answer in time" in account.last_error
    # A later good read clears the error.
    reader.answers.append(profile())
    assert watching.read_account(account, reader=reader, http=object(), now=NOW)
    account.refresh_from_db()
    assert account.last_error == ""


def test_mastodon_accounts_need_a_server_and_it_must_be_public(tenant_a, readable):
    organisation = tenant_a.organisation
    account = watching.add_watched(organisation, None, "mastodon", "@centre@social.example")
    assert (account.handle, account.server) == ("centre", "https://social.example")
    reader = FakeReader("mastodon", profile())
    watching.read_account(account, reader=reader, http=object(), now=NOW)
    assert reader.calls[0][1]["instance_url"] == "https://social.example"
    with pytest.raises(watching.WatchError, match="Mastodon server"):
        watching.add_watched(organisation, None, "mastodon", "centre")
    for server in ("127.0.0.1", "http://10.0.0.8", "https://[::1]", "https://192.168.1.10:8443", "nowhere.invalid"):
        with pytest.raises(watching.WatchError):
            watching.add_watched(organisation, None, "mastodon", "centre", server)
    assert WatchedAccount.objects.count() == 1
    with pytest.raises(watching.WatchError, match="already watched"):
        watching.add_watched(organisation, None, "mastodon", "centre", "social.example")
    with pytest.raises(watching.WatchError, match="does not let"):
        watching.add_watched(organisation, None, "facebook", "SomePage")


def test_the_guard_runs_again_when_reading(tenant_a, readable, monkeypatch):
    account = watching.add_watched(tenant_a.organisation, None, "mastodon", "centre", "social.example")
    # The name now points into the private network: reading is refused, the reader is never called.
    monkeypatch.setattr(
        "beffroi.insights.watching.resolve_host", lambda host, port, **kw: [(2, 1, 6, "", ("10.1.2.3", port))]
    )
    reader = FakeReader("mastodon", profile())
    assert not watching.read_account(account, reader=reader, http=object(), now=NOW)
    assert reader.calls == []
    account.refresh_from_db()
    assert "private or local address" in account.last_error


def test_best_posts_rank_by_interactions_within_the_period(tenant_a, tenant_b, readable):
    mine = watching.add_watched(tenant_a.organisation, None, "bluesky", "partner.bsky.social")
    theirs = watching.add_watched(tenant_b.organisation, None, "bluesky", "partner.bsky.social")
    watching.read_account(mine, reader=FakeReader("bluesky", profile(posts=5)), http=object(), now=NOW)
    watching.read_account(theirs, reader=FakeReader("bluesky", profile(likes=500)), http=object(), now=NOW)
    best = watching.best_posts(tenant_a.organisation, NOW - timedelta(days=3, hours=1), NOW + timedelta(days=1))
    assert [post.text for post in best] == ["Post 3", "Post 2", "Post 1", "Post 0"]
    assert all(post.account == mine for post in best)


def test_the_page_adds_reads_and_removes(tenant_a, readable, client_for):
    readable["bluesky"].answers.append(profile())
    client = client_for(tenant_a.member(Role.EDITOR))
    client.cookies["beffroi_language"] = "en"
    page = f"/o/{tenant_a.organisation.slug}/insights/watched/"
    response = client.post(page, {"network": "bluesky", "handle": "partner.bsky.social", "server": ""}, follow=True)
    text = response.content.decode()
    assert "is now watched" in text and "Post 0" in text and "Partenaire" in text
    account = WatchedAccount.objects.get(organisation=tenant_a.organisation)
    readable["bluesky"].answers.append(httpx.ConnectError("down"))
    text = client.post(f"{page}{account.pk}/read/", follow=True).content.decode()
    assert "could not be read" in text
    bad = client.post(page, {"network": "mastodon", "handle": "x", "server": "127.0.0.1"})
    assert "private or local address" in bad.content.decode()
    # Another organisation's account is out of reach.
    other = client_for(tenant_a.member(Role.ADMIN))
    assert other.post(f"/o/{tenant_a.organisation.slug}/insights/watched/99999/remove/").status_code == 404
    client.post(f"{page}{account.pk}/remove/")
    assert not WatchedAccount.objects.exists()


def test_the_background_worker_reads_accounts_not_read_for_a_day(tenant_a, readable):
    from beffroi.insights.worker import refresh_watched

    fresh = watching.add_watched(tenant_a.organisation, tenant_a.member(Role.ADMIN), "bluesky", "fresh.bsky.social")
    stale = watching.add_watched(tenant_a.organisation, tenant_a.member(Role.ADMIN), "bluesky", "stale.bsky.social")
    WatchedAccount.objects.filter(pk=fresh.pk).update(read_at=NOW - timedelta(hours=2))
    WatchedAccount.objects.filter(pk=stale.pk).update(read_at=NOW - timedelta(days=2))
    readable["bluesky"].answers = [profile(5)]
    assert refresh_watched(object(), now=NOW) == 1
    assert [call[0] for call in readable["bluesky"].calls] == ["stale.bsky.social"]
    assert WatchedPostRecord.objects.filter(account=stale).count() == 3
    assert refresh_watched(object(), now=NOW) == 0  # nothing stale any more
