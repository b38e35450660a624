"""`beffroi check` and the one validator behind it: each network's counting rules on tricky text, media limits."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from beffroi.media.inspect import MediaError, inspect_file
from beffroi.networks import text as texts
from beffroi.networks.capabilities import MediaKind
from beffroi.networks.registry import SUPPORTED, capabilities_for
from beffroi.networks.tests import media_files
from beffroi.networks.validation import MediaInput, check_post

FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, 7 code points, 25 UTF-8 bytes
THUMB = "👍🏽"  # one grapheme, 2 code points, 4 UTF-16 units
E_ACUTE_COMBINING = "e\u0301"  # one grapheme, 2 code points


def check(network: str, text: str, **kwargs):
    return check_post(capabilities_for(network), text, **kwargs)


def run_check(*args: str, text: str = "", language: str = "en") -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("check", *args, "--language", language, stdin=io.StringIO(text), stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, json.loads(out.getvalue())


# Counting ------------------------------------------------------------------------------------------------------


def test_bluesky_counts_graphemes_and_caps_bytes():
    assert check("bluesky", FAMILY * 300).length == 300
    result = check("bluesky", FAMILY * 120)  # 120 graphemes, 3,000 bytes: just allowed
    assert result.ok and result.length == 120
    result = check("bluesky", FAMILY * 121)  # 3,025 bytes
    assert [e.code for e in result.errors] == ["too_many_bytes"]
    assert check("bluesky", E_ACUTE_COMBINING * 300).ok
    assert [e.code for e in check("bluesky", "é" * 301).errors] == ["too_long"]


def test_meta_counts_code_points_where_bluesky_counts_what_people_see():
    text = E_ACUTE_COMBINING * 10 + THUMB
    assert check("bluesky", text).length == 11
    assert check("facebook", text).length == 22


def test_utf16_and_bytes_units():
    assert texts.length(THUMB, "utf16") == 4
    assert texts.length(FAMILY, "bytes") == 25
    assert texts.graphemes("🇫🇷🇨🇦") == 2  # two flags, four regional indicators


def test_mastodon_counts_any_url_as_23_and_remote_mentions_as_local():
    long_url = "https://www.exemple.fr/" + "chemin/" * 40
    assert check("mastodon", long_url).length == 23
    assert check("mastodon", "Merci @alice@mastodon.social !").length == len("Merci @alice !")
    # A URL without its scheme is plain text, counted character by character.
    assert check("mastodon", "exemple.fr/" + "a" * 30).length == 41


def test_mastodon_counts_the_content_warning_and_uses_the_instance_limit():
    result = check("mastodon", "a" * 480, content_warning="Spoiler " + THUMB * 20)
    assert result.length == 480 + 8 + 20 and not result.ok
    assert check("mastodon", "a" * 480).ok
    result = check("mastodon", "a" * 600, limit=5000)  # an instance with a higher limit
    assert result.ok and result.limit == 5000


def test_hashtags_at_the_edges_and_things_that_are_not_hashtags():
    found = [t.value for t in texts.find_hashtags("#début du texte, #été2026 et #fin")]
    assert found == ["début", "été2026", "fin"]
    assert texts.find_hashtags("C# et F#, #123, &#39; et https://exemple.fr/page#ancre") == []
    assert [t.value for t in texts.find_hashtags("(#entre)")] == ["entre"]


def test_mentions_of_every_shape_but_not_e_mail_addresses():
    found = [m.value for m in texts.find_mentions("@alice, @bob@piaille.fr et @carol.bsky.social. Écrire à x@y.fr")]
    assert found == ["alice", "bob@piaille.fr", "carol.bsky.social"]


def test_urls_keep_balanced_parentheses_and_drop_trailing_punctuation():
    found = [
        u.value
        for u in texts.find_urls("Voir https://fr.wikipedia.org/wiki/Beffroi_(architecture). Et (https://a.fr/b).")
    ]
    assert found == ["https://fr.wikipedia.org/wiki/Beffroi_(architecture)", "https://a.fr/b"]


def test_byte_ranges_for_facets_follow_utf8():
    text = f"{FAMILY} é #tag"
    [tag] = texts.find_hashtags(text)
    start, end = tag.byte_range(text)
    assert text.encode()[start:end] == b"#tag" and start == 25 + 1 + 2 + 1


# Instagram caption rules and media -------------------------------------------------------------------------------


def test_instagram_caption_hashtag_and_mention_limits(tmp_path):
    picture = MediaInput(inspect_file(media_files.image(tmp_path / "a.jpg", (1080, 1350))), alt_text="Affiche")
    tags = " ".join(f"#tag{n}" for n in range(31))
    mentions = " ".join(f"@compte{n}" for n in range(21))
    assert check("instagram", " ".join(f"#tag{n}" for n in range(30)), media=[picture]).ok
    codes = [e.code for e in check("instagram", f"{tags} {mentions}", media=[picture]).errors]
    assert codes == ["too_many_hashtags", "too_many_mentions"]
    assert [e.code for e in check("instagram", "Sans image").errors] == ["media_required"]
    assert [w.code for w in check("instagram", "https://exemple.fr", media=[picture]).warnings] == [
        "links_not_clickable"
    ]


def test_instagram_refuses_png_and_out_of_range_aspect_ratios(tmp_path):
    wide = MediaInput(inspect_file(media_files.image(tmp_path / "wide.jpg", (1400, 700))), alt_text="x")
    png = MediaInput(inspect_file(media_files.image(tmp_path / "a.png", (1080, 1080), "PNG")), alt_text="x")
    result = check("instagram", "Légende", media=[wide, png])
    assert [e.code for e in result.errors] == ["media_aspect", "media_type"]
    assert "2.00" in result.errors[0].message and "1.91" in result.errors[0].message
    assert "1337 × 700 pixels" in result.errors[0].message  # the crop suggested


def test_too_many_or_mixed_media_and_missing_alt_text(tmp_path):
    pictures = [MediaInput(inspect_file(media_files.image(tmp_path / f"{n}.jpg", (800, 600)))) for n in range(5)]
    video = MediaInput(inspect_file(media_files.mp4(tmp_path / "v.mp4")), alt_text="vidéo")
    result = check("bluesky", "Photos", media=pictures)
    assert [e.code for e in result.errors] == ["too_many_media"]
    assert [w.code for w in result.warnings] == ["alt_text_missing"] * 5
    assert [e.code for e in check("mastodon", "Mélange", media=[pictures[0], video]).errors] == ["mixed_media"]
    assert check("instagram", "Carrousel", media=[pictures[0], video]).errors == []  # a carousel may mix


def test_video_duration_size_and_the_square_video_advice(tmp_path):
    long_video = MediaInput(inspect_file(media_files.mp4(tmp_path / "long.mp4", duration_s=16 * 60)), alt_text="x")
    assert [e.code for e in check("instagram", "Vidéo", media=[long_video]).errors] == ["video_too_long"]
    # Bluesky videos go through a video service Beffroi does not speak yet: refused before scheduling.
    assert [e.code for e in check("bluesky", "Vidéo", media=[long_video]).errors] == ["media_kind_not_supported"]
    short = MediaInput(inspect_file(media_files.mp4(tmp_path / "short.mp4", duration_s=2)))
    assert "video_too_short" in [e.code for e in check("instagram", "Reel", media=[short]).errors]
    landscape = MediaInput(inspect_file(media_files.mp4(tmp_path / "l.mp4", width=1920, height=1080)))
    result = check("facebook", "Vidéo", media=[landscape])
    assert result.ok and [w.code for w in result.warnings] == ["video_not_square"]
    assert "1080 × 1080 pixels" in result.warnings[0].message  # the crop suggested
    square = MediaInput(inspect_file(media_files.mp4(tmp_path / "s.mp4")))
    assert check("facebook", "Vidéo", media=[square]).warnings == []
    big = MediaInput(inspect_file(media_files.image(tmp_path / "big.png", (3000, 3000), "PNG")), alt_text="x")
    big_info = big.info.__class__(**{**big.info.__dict__, "size": 1_200_000})
    assert [e.code for e in check("bluesky", "Lourd", media=[MediaInput(big_info, "x")]).errors] == ["media_too_big"]


def test_media_type_comes_from_the_bytes_not_the_name(tmp_path):
    disguised = tmp_path / "photo.jpg"
    disguised.write_bytes(b"%PDF-1.7 not a picture")
    with pytest.raises(MediaError):
        inspect_file(disguised)
    png_named_jpg = media_files.image(tmp_path / "photo2.jpg", (100, 100), "PNG")
    assert inspect_file(png_named_jpg).mime_type == "image/png"
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(media_files.image(tmp_path / "full.png", (400, 400), "PNG").read_bytes()[:60])
    with pytest.raises(MediaError):
        inspect_file(truncated)
    video = inspect_file(media_files.mp4(tmp_path / "v.mp4", width=720, height=1280, duration_s=31.5))
    assert (video.kind, video.width, video.height, video.duration_s) == (MediaKind.VIDEO, 720, 1280, 31.5)


def test_every_supported_network_declares_its_capabilities():
    for network in SUPPORTED:
        capabilities = capabilities_for(network)
        assert capabilities.network == network and capabilities.text_limit > 0
        assert capabilities.as_json()["features"]


# The command --------------------------------------------------------------------------------------------------


def test_check_prints_one_json_object_and_exits_by_result(tmp_path):
    code, out = run_check("--network", "bluesky", text="Bonjour " + THUMB)
    assert code == 0
    assert out == {
        "network": "bluesky",
        "length": 9,
        "limit": 300,
        "unit": "graphemes",
        "ok": True,
        "errors": [],
        "warnings": [],
    }
    code, out = run_check("--network", "mastodon", "--limit", "10", text="Bonjour tout le monde")
    assert code == 1 and out["limit"] == 10 and out["errors"][0]["code"] == "too_long"
    image = media_files.image(tmp_path / "affiche.jpg", (1080, 1080))
    code, out = run_check("--network", "instagram", "--media", str(image), "--alt", "Affiche", text="Fête")
    assert code == 0 and out["warnings"] == []


def test_check_messages_in_french_by_default_and_in_english():
    _code, out = run_check("--network", "instagram", text="Sans image", language="fr")
    assert out["errors"][0]["message"] == "Instagram a besoin d'une image ou d'une vidéo."
    _code, out = run_check("--network", "instagram", text="Sans image", language="en")
    assert out["errors"][0]["message"] == "Instagram needs a picture or a video."


def test_check_bad_usage_is_exit_status_2(tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("check", "--network", "bluesky", "--media", str(tmp_path / "absent.jpg"), stdin=io.StringIO(""))
    assert error.value.returncode == 2
    completed = subprocess.run(
        [sys.executable, "-m", "beffroi.cli", "check", "--network", "myspace"],
        input="x",
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2 and "invalid choice" in completed.stderr
    completed = subprocess.run(
        [sys.executable, "-m", "beffroi.cli", "check", "--network", "bluesky"],
        input="é" * 301,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1 and json.loads(completed.stdout)["length"] == 301
