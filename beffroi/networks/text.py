"""Counting and finding things in post text the way networks do.

Networks disagree on what "one character" is: Bluesky and Mastodon count grapheme clusters (what a person
sees as one character: 👨‍👩‍👧 or an e with a combining accent), Meta counts Unicode characters, JavaScript-based
limits count UTF-16 units, and Bluesky also caps UTF-8 bytes. URLs, hashtags and mentions are found here once,
with their positions, for the validator and for networks that need them marked up (Bluesky facets).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from beffroi.networks.capabilities import Unit

# A URL with its scheme (as Mastodon and Bluesky detect them), without trailing punctuation.
_URL = regex.compile(r"\bhttps?://[^\s<>\"']+", regex.IGNORECASE)
_URL_TRAILING = ".,;:!?…»)]}'\""
# A hashtag starts a word: at the start of the text or after a non-word character other than & (HTML entities),
# and holds letters, digits, marks and underscores, at least one of them not a digit.
_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}\p{M}_&/#])#([\p{L}\p{N}\p{M}_]*[\p{L}\p{M}_][\p{L}\p{N}\p{M}_]*)")
# @user, @user@domain (fediverse), @handle.example.org (Bluesky); never inside an e-mail address or a URL.
_MENTION = regex.compile(
    r"(?<![\p{L}\p{N}_=/.@])@([\p{L}\p{N}_][\p{L}\p{N}_.-]*[\p{L}\p{N}_]|[\p{L}\p{N}_])"
    r"(?:@([\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+))?"
)


@dataclass(frozen=True)
class Span:
    """A thing found in the text: its characters' positions (Python string indices) and its value."""

    start: int
    end: int
    value: str  # the URL; the tag without #; the handle without @ (user@domain for fediverse mentions)

    def byte_range(self, text: str) -> tuple[int, int]:
        """UTF-8 byte offsets, as Bluesky facets want them."""
        start = len(text[: self.start].encode())
        return start, start + len(text[self.start : self.end].encode())


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def length(text: str, unit: Unit) -> int:
    if unit == Unit.GRAPHEMES:
        return graphemes(text)
    if unit == Unit.UTF16:
        return len(text.encode("utf-16-le")) // 2
    if unit == Unit.BYTES:
        return len(text.encode())
    return len(text)


def find_urls(text: str) -> list[Span]:
    spans = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        # A closing parenthesis belongs to the URL when it opened one (Wikipedia links).
        if match.group(0)[len(url) : len(url) + 1] == ")" and url.count("(") > url.count(")"):
            url += ")"
        if len(url) > len("https://"):
            spans.append(Span(match.start(), match.start() + len(url), url))
    return spans


def _outside(spans: list[Span], start: int, end: int) -> bool:
    return all(end <= span.start or start >= span.end for span in spans)


def find_hashtags(text: str) -> list[Span]:
    urls = find_urls(text)
    return [Span(m.start(), m.end(), m.group(1)) for m in _HASHTAG.finditer(text) if _outside(urls, m.start(), m.end())]


def find_mentions(text: str) -> list[Span]:
    urls = find_urls(text)
    spans = []
    for m in _MENTION.finditer(text):
        if not _outside(urls, m.start(), m.end()):
            continue
        value = m.group(1) + (f"@{m.group(2)}" if m.group(2) else "")
        spans.append(Span(m.start(), m.end(), value))
    return spans


def replace_spans(text: str, spans: list[Span], replacement) -> str:
    """`text` with each span replaced by `replacement(span)` (spans must not overlap)."""
    out, position = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[position : span.start])
        out.append(replacement(span))
        position = span.end
    out.append(text[position:])
    return "".join(out)
