"""Bulk import and export of posts as CSV, with a dry run.

One row is one post: `date`, `time`, `time_zone`, `channels`, `text`, `link`, `first_comment`, `fold`. Every row
goes through `services.create_and_schedule_post` — the very rules of the composer. The dry run does exactly what
the import does, in one transaction that is then always rolled back: the rows are checked in order, each one
against the posts of the rows before it too (the duplicate guard sees them), and nothing is written. The import
is all-or-nothing: one bad row and no post is created.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.core.timezones import validate_time_zone
from beffroi.organisations.models import Membership
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.services import create_and_schedule_post

COLUMNS = ("date", "time", "time_zone", "channels", "text", "link", "first_comment", "fold", "duplicate_reason")
REQUIRED_COLUMNS = ("date", "time", "channels", "text")
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
CHANNEL_SEPARATOR = "|"

# Spreadsheets run a cell starting with one of these as a formula: the export prefixes it with an apostrophe
# (OWASP "CSV injection"), and the import takes that apostrophe off again, so a round trip keeps the text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{1,2}:\d{2}")

# Where the service's errors belong in the file.
_SERVICE_FIELD_COLUMNS = {
    "channels": "channels",
    "text": "text",
    "media": "text",
    "scheduled_at": "time",
    "duplicates": "channels",
}


@dataclass(frozen=True)
class Problem:
    line: int  # as a spreadsheet numbers it: the header is line 1
    column: str  # "" when it concerns the whole row
    message: str

    def as_json(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class Report:
    rows: int = 0  # data rows (blank lines are not counted)
    problems: list[Problem] = field(default_factory=list)

    @property
    def bad_lines(self) -> list[int]:
        return sorted({problem.line for problem in self.problems})

    @property
    def bad(self) -> int:
        return len(self.bad_lines)

    @property
    def good(self) -> int:
        return self.rows - self.bad

    @property
    def ok(self) -> bool:
        return self.rows > 0 and not self.problems

    def as_json(self) -> dict:
        return {
            "rows": self.rows,
            "good": self.good,
            "bad": self.bad,
            "problems": [problem.as_json() for problem in self.problems],
        }


class ImportRefused(ValidationError):
    """At least one row is bad: nothing was created. `report` says which rows and why."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(
            _("%(bad)s of %(rows)s rows have problems: nothing was imported.")
            % {"bad": report.bad, "rows": report.rows},
            code="bad_rows",
        )


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class _Parsed:
    line: int
    kwargs: dict


# ---------------------------------------------------------------------------------------------------- reading


def _read_bytes(file: bytes | str | IO) -> bytes:
    if isinstance(file, bytes):
        data = file
    elif isinstance(file, str):
        data = file.encode()
    else:
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read(MAX_BYTES + 1)
        if isinstance(data, str):
            data = data.encode()
    if len(data) > MAX_BYTES:
        raise ValidationError(
            _("The file is too big: at most %(size)s MB.") % {"size": MAX_BYTES // (1024 * 1024)}, code="too_big"
        )
    return data


def _read_rows(file: bytes | str | IO) -> list[_Row]:
    """The data rows with their line numbers; refuses a file that cannot be read as a whole."""
    data = _read_bytes(file)
    try:
        text = data.decode("utf-8-sig")  # the BOM Excel writes is taken off
    except UnicodeDecodeError as error:
        raise ValidationError(
            _("The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”."), code="encoding"
        ) from error
    if not text.strip():
        raise ValidationError(_("The file is empty."), code="empty")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as error:
        raise ValidationError(_("The file cannot be read as CSV: %(reason)s") % {"reason": error}) from error
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise ValidationError(
            _("Unknown columns: %(columns)s. The columns are: %(known)s.")
            % {"columns": ", ".join(f"“{name}”" for name in unknown), "known": ", ".join(COLUMNS)},
            code="unknown_columns",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValidationError(
            _("Missing columns: %(columns)s. The first line must name the columns.")
            % {"columns": ", ".join(f"“{name}”" for name in missing)},
            code="missing_columns",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ValidationError(
            _("Columns named twice: %(columns)s.") % {"columns": ", ".join(f"“{name}”" for name in repeated)},
            code="repeated_columns",
        )
    rows = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line: nothing to import, and not an error
            if len(rows) >= MAX_ROWS:
                raise ValidationError(
                    _("Too many rows: at most %(max)s posts per file. Split the file.") % {"max": MAX_ROWS},
                    code="too_many_rows",
                )
            values = {name: (cells[index] if index < len(cells) else "") for index, name in enumerate(columns)}
            if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
                values["__extra__"] = "1"
            rows.append(_Row(number, values))
    except csv.Error as error:
        raise ValidationError(_("The file cannot be read as CSV: %(reason)s") % {"reason": error}) from error
    if not rows:
        raise ValidationError(_("The file has no rows under its header."), code="no_rows")
    return rows


# ---------------------------------------------------------------------------------------------------- parsing


class _Channels:
    """Resolves the `channels` cell: ids or exact display names, among the channels the person may use."""

    def __init__(self, membership: Membership):
        self.by_id: dict[int, Channel] = {}
        self.by_name: dict[str, list[Channel]] = {}
        for channel in Channel.objects.visible_to(membership):
            self.by_id[channel.pk] = channel
            self.by_name.setdefault(channel.display_name, []).append(channel)

    def resolve(self, cell: str) -> tuple[list[int], list[str]]:
        ids, errors = [], []
        for token in (part.strip() for part in cell.split(CHANNEL_SEPARATOR)):
            if not token:
                continue
            named = self.by_name.get(token, [])
            if token.isdigit() and int(token) in self.by_id:
                ids.append(int(token))
            elif len(named) == 1:
                ids.append(named[0].pk)
            elif len(named) > 1:
                errors.append(
                    _("Several channels are named “%(name)s”: write its number instead (%(ids)s).")
                    % {"name": token, "ids": ", ".join(str(c.pk) for c in named)}
                )
            else:
                errors.append(_("Unknown channel: “%(name)s”.") % {"name": token})
        if not ids and not errors:
            errors.append(_("Choose at least one channel."))
        return ids, errors


def _unescape_formula(value: str) -> str:
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def _parse(row: _Row, channels: _Channels) -> tuple[_Parsed | None, list[Problem]]:
    values = row.values
    problems: list[Problem] = []

    def problem(column: str, message: str) -> None:
        problems.append(Problem(row.line, column, message))

    if "__extra__" in values:
        problem("", _("This row has more cells than the header has columns."))
    raw_date, raw_time = values.get("date", "").strip(), values.get("time", "").strip()
    day = moment = None
    if not _DATE.fullmatch(raw_date):
        problem("date", _("“%(value)s” is not a date: write it as YYYY-MM-DD, e.g. 2031-06-03.") % {"value": raw_date})
    else:
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            problem("date", _("“%(value)s” is not a date of the calendar.") % {"value": raw_date})
    if not _TIME.fullmatch(raw_time):
        problem("time", _("“%(value)s” is not a time: write it as HH:MM, e.g. 09:30.") % {"value": raw_time})
    else:
        hours, minutes = (int(part) for part in raw_time.split(":"))
        if hours > 23 or minutes > 59:
            problem("time", _("“%(value)s” is not a time of the day.") % {"value": raw_time})
        else:
            moment = time(hours, minutes)
    zone = values.get("time_zone", "").strip() or None
    if zone:
        try:
            validate_time_zone(zone)
        except ValidationError as error:
            problem("time_zone", " ".join(error.messages))
    raw_fold = values.get("fold", "").strip()
    fold = None
    if raw_fold in ("0", "1"):
        fold = int(raw_fold)
    elif raw_fold:
        problem(
            "fold",
            _("“%(value)s”: write 1 for the second occurrence of an hour repeated when the clocks go back, else 0.")
            % {"value": raw_fold},
        )
    link = values.get("link", "").strip()
    if link:
        try:
            Post._meta.get_field("link").clean(link, None)
        except ValidationError as error:
            problem("link", " ".join(error.messages))
    channel_ids, channel_errors = channels.resolve(values.get("channels", ""))
    for message in channel_errors:
        problem("channels", message)
    if problems or day is None or moment is None:
        return None, problems
    return (
        _Parsed(
            row.line,
            {
                "text": _unescape_formula(values.get("text", "")),
                "channel_ids": channel_ids,
                "local": datetime.combine(day, moment),
                "zone": zone,
                "fold": fold,
                "link": link,
                "first_comment": _unescape_formula(values.get("first_comment", "")),
                # Only passed when given: a post going to several pages of one network anyway says why.
                **(
                    {"duplicate_reason": reason}
                    if (reason := _unescape_formula(values.get("duplicate_reason", "").strip()))
                    else {}
                ),
            },
        ),
        [],
    )


def _service_problems(line: int, error: ValidationError) -> list[Problem]:
    if hasattr(error, "error_dict"):
        return [
            Problem(line, _SERVICE_FIELD_COLUMNS.get(key, "") if key != NON_FIELD_ERRORS else "", message)
            for key, errors in error.error_dict.items()
            for item in errors
            for message in item.messages
        ]
    column = "time" if getattr(error, "code", None) == "nonexistent_time" else ""
    return [Problem(line, column, message) for message in error.messages]


def _check_all(membership: Membership, file: bytes | str | IO) -> tuple[Report, list[Post]]:
    """Runs every row through the service, in order, each in its own savepoint; the caller's transaction decides
    whether the posts of the good rows stay."""
    rows = _read_rows(file)
    channels = _Channels(membership)
    report = Report(rows=len(rows))
    posts: list[Post] = []
    for row in rows:
        parsed, problems = _parse(row, channels)
        if parsed is None:
            report.problems += problems
            continue
        try:
            posts.append(create_and_schedule_post(membership, **parsed.kwargs))  # its own savepoint
        except ValidationError as error:
            report.problems += _service_problems(parsed.line, error)
    return report, posts


def dry_run(membership: Membership, file: bytes | str | IO) -> Report:
    """Checks every row exactly as the import would (it is the import, rolled back), and writes nothing.

    Raises ValidationError when the file as a whole cannot be read (size, encoding, columns, too many rows).
    """
    with transaction.atomic():
        report, _posts = _check_all(membership, file)
        transaction.set_rollback(True)
    return report


def import_posts(membership: Membership, file: bytes | str | IO) -> list[Post]:
    """Creates one post per row, or none at all: raises ImportRefused (with the report) when a row is bad."""
    with transaction.atomic():
        report, posts = _check_all(membership, file)
        if report.problems:
            transaction.set_rollback(True)
            raise ImportRefused(report)
    return posts


# ---------------------------------------------------------------------------------------------------- writing


def _escape_formula(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _channel_cell(channels: Iterable[Channel], names: dict[str, int]) -> str:
    """Display names people can read; the channel's number when its name is ambiguous or would not parse."""
    cells = []
    for channel in channels:
        name = channel.display_name
        usable = (
            names.get(name) == 1
            and name.strip() == name
            and name
            and CHANNEL_SEPARATOR not in name
            and not name.isdigit()
        )
        cells.append(name if usable else str(channel.pk))
    return CHANNEL_SEPARATOR.join(cells)


def default_delimiter() -> str:
    """French spreadsheets read `;` (the comma is their decimal separator); others read `,`."""
    return ";" if (get_language() or "").startswith("fr") else ","


def template_csv(delimiter: str | None = None) -> str:
    """The header and one example row, for people starting a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter or default_delimiter(), lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        [
            "2031-06-03",
            "09:30",
            "Europe/Paris",
            _("Name of a channel") + CHANNEL_SEPARATOR + "12",
            _("Open day on Saturday: come and visit us!"),
            "https://example.org/",
            "",
            "",
            "",
        ]
    )
    return "\ufeff" + buffer.getvalue()


def export_posts(membership: Membership, queryset, *, delimiter: str | None = None) -> str:
    """The publications of `queryset` (only those the person may see) as import rows, one per post and time.

    The publications of one post that share a time become one row; when each is at that time in its channel's
    own zone, `time_zone` stays empty, as the post was written. Variants, media and per-network options are not
    part of the format. Starts with a BOM, so spreadsheets read it as UTF-8.
    """
    visible = Channel.objects.visible_to(membership)
    names: dict[str, int] = {}
    for name in visible.values_list("display_name", flat=True):
        names[name] = names.get(name, 0) + 1
    publications = (
        queryset.filter(channel__in=visible, post__organisation_id=membership.organisation_id)
        .select_related("post", "channel", "channel__organisation")
        .order_by("due_at", "post_id", "pk")
    )
    groups: dict[tuple, list[Publication]] = {}
    for publication in publications:
        local, zone, fold = _local_time(publication)
        groups.setdefault((publication.post_id, local, zone, fold), []).append(publication)
    # Same post, same wall time, each in its own channel's zone: one row without a zone, as it was written.
    merged: dict[tuple, list[Publication]] = {}
    for (post_id, local, zone, fold), members in groups.items():
        own_zone = all(p.scheduled_tz in ("", p.channel.effective_time_zone) for p in members)
        key = (post_id, local, "" if own_zone else zone, fold)
        merged.setdefault(key, []).extend(members)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter or default_delimiter(), lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for (_post_id, local, zone, fold), members in merged.items():
        post = members[0].post
        writer.writerow(
            [
                local.strftime("%Y-%m-%d") if local else "",
                local.strftime("%H:%M") if local else "",
                zone,
                _channel_cell((p.channel for p in members), names),
                _escape_formula(post.text),
                post.link,
                _escape_formula(post.first_comment),
                str(fold) if fold else "",
                _escape_formula(getattr(post, "duplicate_reason", "")),
            ]
        )
    return "\ufeff" + buffer.getvalue()


def _local_time(publication: Publication) -> tuple[datetime | None, str, int]:
    """The wall time as chosen; for a post sent "now", its time in the channel's zone."""
    if publication.scheduled_local and publication.scheduled_tz:
        return datetime.fromisoformat(publication.scheduled_local), publication.scheduled_tz, publication.scheduled_fold
    if publication.due_at is None:
        return None, "", 0
    zone = publication.channel.effective_time_zone
    local = publication.due_at.astimezone(zoneinfo.ZoneInfo(zone))
    return local.replace(tzinfo=None, second=0, microsecond=0), zone, local.fold
