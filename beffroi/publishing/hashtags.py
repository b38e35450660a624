"""Saved hashtag sets: an organisation's recurring hashtags (a campaign's, a network's), kept once and inserted
into posts from the composer."""

from __future__ import annotations

import regex
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Action
from beffroi.publishing.models import HashtagSet

MAX_TAGS = 30  # Instagram's limit per post: a longer set could never be used whole
# A hashtag is letters, marks, digits and underscores in any script (#fêteDesVoisins, #été2026).
TAG = regex.compile(r"^[\p{L}\p{M}\p{Nd}_]+$")


def normalise_tags(raw: str) -> str:
    """'fête, #Voisins  #fête' → '#fête #Voisins': a # on each, duplicates (ignoring case) dropped, order kept."""
    found: list[str] = []
    seen: set[str] = set()
    for word in regex.split(r"[\s,;]+", raw.strip()):
        word = word.lstrip("#")
        if not word:
            continue
        if not TAG.match(word):
            raise ValidationError(_("“%(tag)s” cannot be a hashtag: use letters, digits and _ only.") % {"tag": word})
        if word.casefold() not in seen:
            seen.add(word.casefold())
            found.append(f"#{word}")
    if not found:
        raise ValidationError(_("Type at least one hashtag."))
    if len(found) > MAX_TAGS:
        raise ValidationError(_("At most %(count)s hashtags in a set.") % {"count": MAX_TAGS})
    return " ".join(found)


def save_hashtag_set(membership: Membership, *, name: str, tags: str) -> HashtagSet:
    if not membership.can(Action.COMPOSE):
        raise PermissionDenied
    name = name.strip()
    if not name:
        raise ValidationError(_("Give the set a name."))
    normalised = normalise_tags(tags)
    try:
        with transaction.atomic():
            return HashtagSet.objects.create(
                organisation=membership.organisation, name=name[:80], tags=normalised, created_by=membership.user
            )
    except IntegrityError as error:
        raise ValidationError(_("A set named “%(name)s” already exists.") % {"name": name}) from error


def delete_hashtag_set(membership: Membership, set_id: int) -> None:
    if not membership.can(Action.COMPOSE):
        raise PermissionDenied
    HashtagSet.objects.filter(organisation=membership.organisation, pk=set_id).delete()
