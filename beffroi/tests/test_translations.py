"""The French catalogue: complete, compiled, in step with the code, and used by the pages.

The interface is French by default, so a string missing from `beffroi/locale/fr` shows up in English
to most people. After changing texts, run `make messages`, translate the new entries, and commit
both django.po and django.mo.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = PACKAGE_DIR / "locale"
PO_PATH = LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# The same options as `make messages`.
MAKEMESSAGES_OPTIONS = {
    "locale": ["fr"],
    "no_obsolete": True,
    "no_location": True,
    "ignore_patterns": ["*/tests/*", "conftest.py"],
    "verbosity": 0,
}

# %(name)s, %(count)d, %(ratio).1f… (python-format); "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def _key(entry: polib._BaseEntry) -> tuple[str | None, str]:
    return (entry.msgctxt, entry.msgid)


def _label(entry: polib._BaseEntry) -> str:
    return f"{entry.msgctxt}|{entry.msgid!r}" if entry.msgctxt else repr(entry.msgid)


def _translations(entry: polib._BaseEntry) -> list[tuple[str, str]]:
    """(source, translation) pairs: for plural entries each form is checked against msgid_plural."""
    if entry.msgid_plural:
        return [(entry.msgid_plural, entry.msgstr_plural[i]) for i in sorted(entry.msgstr_plural)]
    return [(entry.msgid, entry.msgstr)]


@pytest.fixture(scope="module")
def catalogue() -> polib.POFile:
    assert PO_PATH.is_file(), f"{PO_PATH} is missing: run `make messages`."
    return polib.pofile(str(PO_PATH))


def _entries(catalogue: polib.POFile) -> list[polib.POEntry]:
    return [e for e in catalogue if not e.obsolete]


# a. Complete --------------------------------------------------------------------------------------------


def test_catalogue_header(catalogue):
    assert catalogue.metadata.get("Language") == "fr"
    assert catalogue.metadata.get("Plural-Forms") == "nplurals=2; plural=(n > 1);"
    assert "charset=UTF-8" in catalogue.metadata.get("Content-Type", "")
    assert not catalogue.metadata_is_fuzzy, "The catalogue header is marked fuzzy."


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    entries = _entries(catalogue)
    assert entries, "The French catalogue is empty."
    untranslated = [
        _label(e) for e in entries if not (all(e.msgstr_plural.get(i) for i in (0, 1)) if e.msgid_plural else e.msgstr)
    ]
    fuzzy = [_label(e) for e in entries if "fuzzy" in e.flags]
    assert not untranslated, "Untranslated entries in django.po:\n" + "\n".join(untranslated)
    assert not fuzzy, "Fuzzy entries in django.po (check them, then remove the flag):\n" + "\n".join(fuzzy)


# b. Compiled ---------------------------------------------------------------------------------------------


def test_compiled_catalogue_is_up_to_date(catalogue):
    assert MO_PATH.is_file(), f"{MO_PATH} is missing: run `make messages` (compilemessages)."
    compiled = {_key(e): e for e in polib.mofile(str(MO_PATH))}
    expected = {_key(e): e for e in catalogue.translated_entries()}
    stale = []
    for key, entry in expected.items():
        mo_entry = compiled.get(key)
        if mo_entry is None:
            stale.append(f"{_label(entry)}: not in django.mo")
        elif entry.msgid_plural:
            if mo_entry.msgid_plural != entry.msgid_plural or {
                int(i): s for i, s in mo_entry.msgstr_plural.items()
            } != {int(i): s for i, s in entry.msgstr_plural.items()}:
                stale.append(f"{_label(entry)}: plural forms differ")
        elif mo_entry.msgstr != entry.msgstr:
            stale.append(f"{_label(entry)}: {mo_entry.msgstr!r} in django.mo, {entry.msgstr!r} in django.po")
    extra = [repr(msgid) for (_ctx, msgid) in compiled.keys() - expected.keys()]
    assert not stale, "django.mo is out of date, run compilemessages:\n" + "\n".join(stale)
    assert not extra, "django.mo has entries no longer in django.po, run compilemessages:\n" + "\n".join(extra)
    assert len(compiled) == len(expected)
    assert polib.mofile(str(MO_PATH)).metadata.get("Plural-Forms") == catalogue.metadata.get("Plural-Forms")


# c. In step with the code --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_catalogue(tmp_path_factory) -> polib.POFile:
    """A catalogue freshly extracted from a copy of the code, as `make messages` would."""
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext (xgettext) is not installed: cannot extract the strings from the code.")
    copy = tmp_path_factory.mktemp("i18n") / "beffroi"
    shutil.copytree(
        PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.pyc", "locale", "*.mo", "*.po")
    )
    (copy / "locale").mkdir()
    # LOCALE_PATHS points makemessages at the copy, never at the committed catalogue.
    with override_settings(LOCALE_PATHS=[copy / "locale"]), contextlib.chdir(copy):
        call_command("makemessages", **MAKEMESSAGES_OPTIONS)
    generated = copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    assert generated.is_file(), "makemessages produced no catalogue."
    extracted = polib.pofile(str(generated))
    assert len(extracted) > 0, "makemessages found no translatable string in the code."
    return extracted


def test_every_string_in_the_code_is_in_the_catalogue(catalogue, generated_catalogue):
    committed = {_key(e): e for e in _entries(catalogue)}
    missing = [
        _label(e)
        for e in _entries(generated_catalogue)
        if _key(e) not in committed or (e.msgid_plural or None) != (committed[_key(e)].msgid_plural or None)
    ]
    assert not missing, (
        "Strings in the code missing from beffroi/locale/fr/LC_MESSAGES/django.po "
        "(run `make messages` and translate them):\n" + "\n".join(missing)
    )


def test_catalogue_has_no_string_the_code_no_longer_uses(catalogue, generated_catalogue):
    in_code = {_key(e) for e in _entries(generated_catalogue)}
    stale = [_label(e) for e in _entries(catalogue) if _key(e) not in in_code]
    assert not stale, "Entries of django.po no longer in the code (run `make messages`):\n" + "\n".join(stale)


# d. Used by the pages ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_french_by_default():
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Se connecter à Beffroi" in html
    assert "Log in to Beffroi" not in html


@pytest.mark.django_db
def test_login_page_is_english_with_the_language_cookie():
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Log in to Beffroi" in html
    assert "Se connecter à Beffroi" not in html


# e. Placeholders and markup kept -------------------------------------------------------------------------


def test_placeholders_are_preserved(catalogue):
    wrong = []
    for entry in _entries(catalogue):
        for source, translation in _translations(entry):
            if not translation:
                continue  # reported by test_every_entry_is_translated_and_none_is_fuzzy
            expected = {m.group(0) for m in PLACEHOLDER.finditer(source)}
            found = {m.group(0) for m in PLACEHOLDER.finditer(translation)}
            if expected != found:
                wrong.append(f"{_label(entry)}: expects {sorted(expected)}, translation has {sorted(found)}")
            elif "python-format" in entry.flags:
                values = {m.group(1): 1 for m in PLACEHOLDER.finditer(source)}
                try:
                    translation % values
                except (ValueError, TypeError, KeyError) as error:
                    wrong.append(f"{_label(entry)}: the translation cannot be formatted ({error})")
    assert not wrong, "Placeholders differ between source and translation:\n" + "\n".join(wrong)


def test_html_tags_are_preserved(catalogue):
    wrong = []
    for entry in _entries(catalogue):
        for source, translation in _translations(entry):
            if translation and sorted(HTML_TAG.findall(source)) != sorted(HTML_TAG.findall(translation)):
                wrong.append(f"{_label(entry)}: {HTML_TAG.findall(source)} → {HTML_TAG.findall(translation)}")
    assert not wrong, "HTML tags differ between source and translation:\n" + "\n".join(wrong)
