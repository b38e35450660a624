"""The CSV writer: spreadsheet-friendly in each language, unavailable values empty with their reason, formulas
never run."""

from __future__ import annotations

import csv
import io
from datetime import date

from beffroi.insights.exports import CHANGE, FLOAT, INT, NA, Column, Link, Table, to_csv


def table() -> Table:
    return Table(
        "t",
        "T",
        [
            Column("name", "Name"),
            Column("people", "People", INT),
            Column("rate", "Rate", FLOAT),
            Column("change", "Change", CHANGE),
            Column("day", "Day"),
        ],  # fmt: skip
        [
            ['=HYPERLINK("http://evil")', 1234567, 12.345, -3.25, date(2026, 11, 2)],
            [Link("+33 text", "/x"), NA("The network withholds it."), NA("Not collected."), 0.0, date(2026, 11, 3)],
        ],
    )


def rows(text: str, delimiter: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))


def test_english_csv():
    header, first, second = rows(to_csv(table(), language="en"), ",")
    assert header == ["Name", "People", "Rate", "Change", "Day", "Not available (why)"]
    assert first == ['\'=HYPERLINK("http://evil")', "1234567", "12.3", "-3.2", "2026-11-02", ""]
    # Unavailable: empty cells (never 0) and the reason named with its column.
    assert second[1:3] == ["", ""]
    assert second[-1] == "People: The network withholds it. | Rate: Not collected."
    assert second[0] == "'+33 text" and second[3] == "0.0"


def test_french_csv_uses_semicolons_and_decimal_commas():
    _header, first, _second = rows(to_csv(table(), language="fr"), ";")
    assert first[1:4] == ["1234567", "12,3", "-3,2"]


def test_a_table_without_gaps_has_no_reason_column():
    plain = Table("p", "P", [Column("n", "N", INT)], [[1], [2]])
    assert rows(to_csv(plain, language="en"), ",") == [["N"], ["1"], ["2"]]
