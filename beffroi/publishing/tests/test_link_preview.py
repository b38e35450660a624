"""Link previews: Open Graph read from a real local web server, redirects followed with care, private
addresses refused, failures give no preview."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.cache import cache

from beffroi.organisations.roles import Role
from beffroi.publishing.links import link_preview, parse_preview

PAGE = b"""<!doctype html><html><head><title>Fallback title</title>
<meta property="og:title" content="F\xc3\xaate de quartier &amp; march\xc3\xa9">
<meta property="og:description" content="Samedi 12 d\xc3\xa9cembre, place du march\xc3\xa9.">
<meta property="og:image" content="/img/fete.jpg">
<meta property="og:site_name" content="Centre social">
</head><body>...</body></html>"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 — http.server's name
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/fete")
            self.end_headers()
        elif self.path == "/fete":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(PAGE)
        elif self.path == "/file.pdf":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.end_headers()
            self.wfile.write(b"%PDF-1.4")
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cache.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_open_graph_is_read_with_a_fallback_on_the_title():
    preview = parse_preview("https://example.org/a", PAGE.decode())
    assert preview.title == "Fête de quartier & marché"
    assert preview.image == "https://example.org/img/fete.jpg" and preview.site_name == "Centre social"
    plain = parse_preview("https://example.org/b", "<title> Juste un titre </title>")
    assert plain.title == "Juste un titre" and plain.description == ""
    assert parse_preview("https://example.org/c", "<p>rien</p>") is None


def test_a_redirect_is_followed_and_the_page_read(site, settings):
    settings.LINK_PREVIEW_ALLOW_PRIVATE = True
    preview = link_preview(f"{site}/moved")
    assert preview.title == "Fête de quartier & marché"
    assert preview.description.startswith("Samedi 12 décembre")
    assert preview.image == f"{site}/img/fete.jpg"


def test_private_addresses_are_refused_without_a_request(site, settings):
    settings.LINK_PREVIEW_ALLOW_PRIVATE = False
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))
    with httpx.Client(transport=transport) as http:
        assert link_preview(f"{site}/fete", http) is None
        assert link_preview("http://169.254.169.254/latest/meta-data/", http) is None
    assert seen == []


def test_what_is_not_a_web_page_gives_no_preview(site, settings):
    settings.LINK_PREVIEW_ALLOW_PRIVATE = True
    assert link_preview(f"{site}/file.pdf") is None
    assert link_preview(f"{site}/missing") is None
    assert link_preview("ftp://example.org/x") is None


@pytest.mark.django_db
def test_the_composer_check_shows_the_preview(site, settings, tenant_a, client_for):
    settings.LINK_PREVIEW_ALLOW_PRIVATE = True
    client = client_for(tenant_a.member(Role.EDITOR))
    page = client.post(
        f"/o/{tenant_a.organisation.slug}/compose/check/", {"text": "Venez !", "link": f"{site}/fete"}
    ).content.decode()
    assert "Fête de quartier &amp; marché" in page and "Centre social" in page
