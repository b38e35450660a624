"""Statistics in the browser: the overview and its period, the audience and the heatmap drawn by ECharts with their
data tables, and the CSV and PDF exports downloaded and read back (the PDF's first page rendered to an image)."""

from __future__ import annotations

import csv
import io
import re

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import expect

from beffroi.insights.base import Unavailable
from beffroi.insights.demo import generate_statistics
from beffroi.insights.metrics import Metric, Reason
from beffroi.networks import registry
from beffroi.organisations.models import Organisation
from beffroi.tests.browser.conftest import BASSIN, click_and_load, org_url

pytestmark = pytest.mark.browser


class DeclaredReader:
    """Stands in for a network's statistics reader that is not in this checkout yet: declares what it gives."""

    def __init__(self, network: str, metrics) -> None:
        self.network = network
        self.account_metrics = {metric: () for metric in metrics}
        self.reporting_zone = "UTC"
        self.history_days = 730

    def read(self, *args, **kwargs):
        raise NotImplementedError

    def missing_reason(self, metric):
        return Unavailable(Reason.NOT_ON_NETWORK)


@pytest.fixture
def statistics(demo, monkeypatch):
    """The demo's statistics (200 days: enough for 90 days and the 90 before them), and a reader for each network
    the demo has statistics for."""
    real = dict(registry.insights_readers())
    declared = {
        "facebook": DeclaredReader("facebook", list(Metric)),
        "instagram": DeclaredReader("instagram", list(Metric)),
        "mastodon": DeclaredReader("mastodon", [Metric.FOLLOWERS]),
        "bluesky": DeclaredReader("bluesky", [Metric.FOLLOWERS]),
    }
    readers = {**declared, **{network: reader for network, reader in real.items() if reader is not None}}
    monkeypatch.setattr(registry, "insights_readers", lambda: readers)
    generate_statistics(Organisation.objects.get(slug=BASSIN), days=200)


def watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "favicon" not in message.text and "404" not in message.text
            else None
        ),
    )
    return problems


def test_overview_period_audience_heatmap_and_exports(login, statistics, tmp_path):
    page = login("admin", org_url(BASSIN, "insights/"))
    problems = watch_console(page)
    page.reload()
    expect(page.locator("main h1")).to_have_count(1)
    label = page.locator("#period-label")
    expect(label).to_contain_text("28")
    reach = page.locator(".figure-reach .figure-value")
    before = reach.inner_text()
    assert re.search(r"\d", before)
    chart = page.locator('[data-chart="chart-series"]')
    expect(chart).to_have_attribute("data-ready", "true")
    expect(chart.locator("svg")).to_have_count(1)
    expect(page.locator(".figure-reach .change")).to_contain_text("%")

    # 7 days, then 90 days: the label and the figures follow.
    click_and_load(page, page.locator('.period-presets a[href*="days=7"]'))
    expect(label).to_contain_text("7")
    week = reach.inner_text()
    click_and_load(page, page.locator('.period-presets a[href*="days=90"]'))
    expect(label).to_contain_text("90")
    expect(page.locator('.period-presets a[aria-current="true"]')).to_have_attribute("href", re.compile("days=90"))
    quarter = reach.inner_text()
    assert len({before, week, quarter}) == 3, (before, week, quarter)
    expect(page.locator("#filter-days")).to_have_value("90")

    # The audience: the pyramid, with its table open beside it.
    click_and_load(page, page.locator(f'nav.insights-tabs a[href^="{org_url(BASSIN, "insights/audience/")}"]'))
    pyramid = page.locator('[data-chart="chart-pyramid"]')
    expect(pyramid.locator("svg")).to_have_count(1)
    expect(page.locator("#table-age_gender table tbody tr").first).to_be_visible()
    expect(page.locator("#table-country table")).to_contain_text("FR")

    # The heatmap, in the viewer's zone, and its table one click away.
    click_and_load(page, page.locator(f'nav.insights-tabs a[href^="{org_url(BASSIN, "insights/online/")}"]'))
    expect(page.locator("main h2").first).to_contain_text("Europe/Paris")
    heatmap = page.locator('[data-chart="chart-heatmap"]')
    expect(heatmap.locator("svg")).to_have_count(1)
    expect(heatmap.locator("svg text").first).to_be_attached()
    data = page.locator("details.chart-data")
    expect(data.locator("table")).not_to_be_visible()
    data.locator("summary").click()
    expect(data.locator("table tbody tr")).to_have_count(7)

    # CSV of the overview's key figures (French page: semicolons), read back.
    click_and_load(page, page.locator(f'nav.insights-tabs a[href^="{org_url(BASSIN, "insights/")}"]').first)
    with page.expect_download() as download:
        page.locator("#table-figures a.csv-link").click()
    path = tmp_path / "figures.csv"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(rows) == 7 and len(rows[0]) >= 5
    assert any(cell and cell[0].isdigit() for cell in rows[1])

    # The PDF report, in French: a real PDF whose first page is not blank.
    with page.expect_download() as download:
        page.locator('.exports a[href*="report.pdf"][href*="lang=fr"]').click()
    pdf_path = tmp_path / "report.pdf"
    download.value.save_as(pdf_path)
    document = pdfium.PdfDocument(str(pdf_path))
    assert len(document) >= 2
    assert "Centres sociaux connectés du Bassin minier" in document[0].get_textpage().get_text_range()
    image = document[0].render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:200])  # pixels darker than light grey
    assert dark > image.width * image.height * 0.01, "the first page is blank"
    assert problems == [], problems
