"""One validator for the composer, the API and `beffroi check`: a post against a network's declared capabilities.

Errors stop a post from being scheduled on that network; warnings are advice (the training decks' tips, alt
text for accessibility) and never block. Messages are translated in the active language (French first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from beffroi.media.inspect import MediaInfo
from beffroi.networks import text as texts
from beffroi.networks.capabilities import Capabilities, MediaKind, Unit


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class MediaInput:
    info: MediaInfo
    alt_text: str = ""
    name: str = ""  # how the person knows the file (its name), for messages


@dataclass
class CheckResult:
    network: str
    length: int
    limit: int
    unit: Unit
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict:
        return {
            "network": self.network,
            "length": self.length,
            "limit": self.limit,
            "unit": str(self.unit),
            "ok": self.ok,
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }


def unit_label(unit: Unit, count: int) -> str:
    if unit == Unit.BYTES:
        return ngettext("byte", "bytes", count)
    return ngettext("character", "characters", count)


def countable_text(capabilities: Capabilities, text: str) -> str:
    """The text as the network counts it: URLs at their fixed length, remote mentions as local ones."""
    spans: list[texts.Span] = []
    if capabilities.url_length is not None:
        spans += texts.find_urls(text)
    if capabilities.remote_mentions_count_as_local:
        spans += [m for m in texts.find_mentions(text) if "@" in m.value]
    if not spans:
        return text

    def replacement(span: texts.Span) -> str:
        if span.value.startswith(("http://", "https://")):
            return "x" * (capabilities.url_length or 0)
        return "@" + span.value.split("@", 1)[0]

    return texts.replace_spans(text, spans, replacement)


def text_length(capabilities: Capabilities, text: str, content_warning: str = "") -> int:
    counted = texts.length(countable_text(capabilities, text.strip()), capabilities.text_unit)
    if capabilities.content_warning and content_warning:
        counted += texts.length(content_warning.strip(), capabilities.text_unit)
    return counted


def check_post(
    capabilities: Capabilities,
    text: str,
    *,
    media: list[MediaInput] | tuple[MediaInput, ...] = (),
    limit: int | None = None,
    content_warning: str = "",
) -> CheckResult:
    """Checks a post (or one variant of it) against a network. `limit` overrides the declared text limit (a
    Mastodon instance's own)."""
    limit = limit or capabilities.text_limit
    length = text_length(capabilities, text, content_warning)
    result = CheckResult(capabilities.network, length, limit, capabilities.text_unit)
    network = capabilities.label
    if not text.strip() and not media:
        result.errors.append(Problem("empty", _("The post is empty: write a text or add a picture or a video.")))
    if length > limit:
        result.errors.append(
            Problem(
                "too_long",
                _("Too long for %(network)s: %(length)s %(unit)s for at most %(limit)s (%(over)s too many).")
                % {
                    "network": network,
                    "length": length,
                    "unit": unit_label(capabilities.text_unit, length),
                    "limit": limit,
                    "over": length - limit,
                },
            )
        )
    if capabilities.text_byte_limit is not None:
        size = len((text.strip()).encode())
        if size > capabilities.text_byte_limit:
            result.errors.append(
                Problem(
                    "too_many_bytes",
                    _("Too long for %(network)s: %(size)s bytes once encoded for at most %(limit)s.")
                    % {"network": network, "size": size, "limit": capabilities.text_byte_limit},
                )
            )
    if content_warning and not capabilities.content_warning:
        result.warnings.append(
            Problem(
                "content_warning_ignored",
                _("%(network)s has no content warning: it will not be shown there.") % {"network": network},
            )
        )
    _check_tags(capabilities, text, result)
    _check_media(capabilities, list(media), result)
    if capabilities.network == "instagram" and texts.find_urls(text):
        result.warnings.append(
            Problem(
                "links_not_clickable",
                _("Links in an Instagram caption cannot be clicked: say where to find it (link in bio)."),
            )
        )
    return result


def _check_tags(capabilities: Capabilities, text: str, result: CheckResult) -> None:
    network = capabilities.label
    if capabilities.max_hashtags is not None:
        count = len(texts.find_hashtags(text))
        if count > capabilities.max_hashtags:
            result.errors.append(
                Problem(
                    "too_many_hashtags",
                    _("%(count)s hashtags: %(network)s allows at most %(limit)s.")
                    % {"count": count, "network": network, "limit": capabilities.max_hashtags},
                )
            )
    if capabilities.max_mentions is not None:
        count = len(texts.find_mentions(text))
        if count > capabilities.max_mentions:
            result.errors.append(
                Problem(
                    "too_many_mentions",
                    _("%(count)s mentions: %(network)s allows at most %(limit)s.")
                    % {"count": count, "network": network, "limit": capabilities.max_mentions},
                )
            )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def _check_media(capabilities: Capabilities, media: list[MediaInput], result: CheckResult) -> None:
    network = capabilities.label
    if capabilities.requires_media and not media:
        result.errors.append(
            Problem("media_required", _("%(network)s needs a picture or a video.") % {"network": network})
        )
    if not media:
        return
    if capabilities.max_media == 0:
        result.errors.append(
            Problem("media_not_supported", _("Beffroi cannot send pictures to %(network)s.") % {"network": network})
        )
        return
    if len(media) > capabilities.max_media:
        result.errors.append(
            Problem(
                "too_many_media",
                _("%(count)s files: %(network)s takes at most %(limit)s per post.")
                % {"count": len(media), "network": network, "limit": capabilities.max_media},
            )
        )
    kinds = {item.info.kind for item in media}
    videos = sum(1 for item in media if item.info.kind == MediaKind.VIDEO)
    if len(kinds) > 1 and not capabilities.mixes_media_kinds:
        result.errors.append(
            Problem(
                "mixed_media",
                _("%(network)s cannot mix pictures and a video in one post.") % {"network": network},
            )
        )
    elif videos > capabilities.max_videos:
        result.errors.append(
            Problem(
                "too_many_videos",
                _("%(network)s takes at most %(limit)s video per post.")
                % {"network": network, "limit": capabilities.max_videos},
            )
        )
    for number, item in enumerate(media, start=1):
        _check_one_medium(capabilities, item, item.name or _("file %(number)s") % {"number": number}, result)


def _check_one_medium(capabilities: Capabilities, item: MediaInput, name: str, result: CheckResult) -> None:
    info, network = item.info, capabilities.label
    rule = capabilities.rule_for(info.kind)
    values = {"name": name, "network": network}
    if rule is None:
        result.errors.append(
            Problem("media_kind_not_supported", _("%(name)s: %(network)s does not take videos.") % values)
        )
        return
    if info.mime_type not in rule.mime_types:
        accepted = ", ".join(m.split("/")[1].upper().replace("QUICKTIME", "MOV") for m in rule.mime_types)
        result.errors.append(
            Problem(
                "media_type",
                _("%(name)s: %(network)s does not take this type of file (accepted: %(accepted)s).")
                % {**values, "accepted": accepted},
            )
        )
    if info.size > rule.max_bytes:
        result.errors.append(
            Problem(
                "media_too_big",
                _("%(name)s weighs %(size)s MB: %(network)s takes at most %(limit)s MB.")
                % {**values, "size": _megabytes(info.size), "limit": _megabytes(rule.max_bytes)},
            )
        )
    if info.width and info.height:
        too_narrow = (rule.min_width and info.width < rule.min_width) or (
            rule.min_height and info.height < rule.min_height
        )
        if too_narrow:
            result.errors.append(
                Problem(
                    "media_too_small",
                    _("%(name)s is %(width)s × %(height)s pixels: too small for %(network)s.")
                    % {**values, "width": info.width, "height": info.height},
                )
            )
        aspect = info.width / info.height
        if (rule.min_aspect and aspect < rule.min_aspect - 0.005) or (
            rule.max_aspect and aspect > rule.max_aspect + 0.005
        ):
            result.errors.append(
                Problem(
                    "media_aspect",
                    _(
                        "%(name)s has a width/height ratio of %(aspect)s: %(network)s takes from %(min)s to %(max)s "
                        "(crop it)."
                    )
                    % {
                        **values,
                        "aspect": f"{aspect:.2f}",
                        "min": f"{rule.min_aspect:.2f}" if rule.min_aspect else "—",
                        "max": f"{rule.max_aspect:.2f}" if rule.max_aspect else "—",
                    }
                    + " "
                    + _crop_advice(*suggest_crop(info.width, info.height, rule.min_aspect, rule.max_aspect)),
                )
            )
    if info.kind == MediaKind.VIDEO:
        _check_video(capabilities, rule, info, values, result)
    if capabilities.alt_text_limit is not None:
        if not item.alt_text.strip():
            result.warnings.append(
                Problem(
                    "alt_text_missing",
                    _("%(name)s has no description (alt text): people using a screen reader will miss it.") % values,
                )
            )
        elif texts.graphemes(item.alt_text) > capabilities.alt_text_limit:
            result.errors.append(
                Problem(
                    "alt_text_too_long",
                    _("%(name)s: the description is longer than the %(limit)s characters %(network)s allows.")
                    % {**values, "limit": capabilities.alt_text_limit},
                )
            )


def _check_video(capabilities, rule, info: MediaInfo, values: dict, result: CheckResult) -> None:
    duration = info.duration_s
    if duration is not None:
        if rule.max_duration_s is not None and duration > rule.max_duration_s:
            result.errors.append(
                Problem(
                    "video_too_long",
                    _("%(name)s lasts %(duration)s s: %(network)s takes at most %(limit)s s.")
                    % {**values, "duration": round(duration, 1), "limit": round(rule.max_duration_s)},
                )
            )
        if rule.min_duration_s is not None and duration < rule.min_duration_s:
            result.errors.append(
                Problem(
                    "video_too_short",
                    _("%(name)s lasts %(duration)s s: %(network)s needs at least %(limit)s s.")
                    % {**values, "duration": round(duration, 1), "limit": round(rule.min_duration_s)},
                )
            )
    if capabilities.video_advice_square and info.aspect is not None and abs(info.aspect - 1) > 0.02:
        result.warnings.append(
            Problem(
                "video_not_square",
                _("%(name)s is not square: a square video shows well both on phones and on computers.") % values
                + " "
                + _crop_advice(*suggest_crop(info.width, info.height, 1.0, 1.0)),
            )
        )


def suggest_crop(width: int, height: int, min_aspect: float | None, max_aspect: float | None) -> tuple[int, int]:
    """The largest centred crop of a picture or video whose width/height ratio the network accepts."""
    aspect = width / height
    if max_aspect and aspect > max_aspect:
        return int(height * max_aspect), height
    if min_aspect and aspect < min_aspect:
        return width, int(width / min_aspect)
    return width, height


def _crop_advice(width: int, height: int) -> str:
    return _("Suggested crop, centred: %(width)s × %(height)s pixels.") % {"width": width, "height": height}
