"""The demo: two organisations modelled on the users of the training decks (../shared/decks/).

- "Centres sociaux connectés du Bassin minier": a network of social centres, one coordination and local
  centres (Valenciennes, Douchy-les-Mines, Cambrai, Denain, Lille), each with its own pages.
- "SCC — Division du Québec": a charity with a divisional page and regional pages (a second time zone).

Idempotent: what exists is left as it is, what is missing is created. Later work adds posts and statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from beffroi.accounts.models import User
from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership, Organisation, PageGroup
from beffroi.organisations.roles import Role

DEMO_PASSWORD = "beffroi-demo"
DEMO_DOMAIN = "demo.beffroi.example"

L = PageGroup.Level

BASSIN_MINIER = {
    "slug": "demo-bassin-minier",
    "name": "Centres sociaux connectés du Bassin minier",
    "time_zone": "Europe/Paris",
    "language": "fr",
    # (name, level, parent)
    "groups": [
        ("Coordination Bassin minier", L.NATIONAL, None),
        ("Valenciennois", L.REGIONAL, "Coordination Bassin minier"),
        ("Cambrésis", L.REGIONAL, "Coordination Bassin minier"),
        ("Métropole lilloise", L.REGIONAL, "Coordination Bassin minier"),
        ("Valenciennes", L.LOCAL, "Valenciennois"),
        ("Douchy-les-Mines", L.LOCAL, "Valenciennois"),
        ("Denain", L.LOCAL, "Valenciennois"),
        ("Cambrai", L.LOCAL, "Cambrésis"),
        ("Lille", L.LOCAL, "Métropole lilloise"),
    ],
    # (network, display name, handle, group, status, time zone override)
    "channels": [
        (
            Network.FACEBOOK,
            "Centres Sociaux Connectés du Bassin Minier",
            "CentresSociauxConnectes",
            "Coordination Bassin minier",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.INSTAGRAM,
            "Centres sociaux connectés",
            "@centressociauxconnectes",
            "Coordination Bassin minier",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.YOUTUBE,
            "Centres sociaux connectés — tutos",
            "@csc-bassin-minier",
            "Coordination Bassin minier",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.ATOM,
            "Actualités du réseau (fil Atom)",
            "actualites",
            "Coordination Bassin minier",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.FACEBOOK,
            "Centre social de Valenciennes",
            "CSValenciennes",
            "Valenciennes",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.INSTAGRAM,
            "Centre social de Valenciennes",
            "@cs_valenciennes",
            "Valenciennes",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.FACEBOOK,
            "Centre social de Douchy-les-Mines",
            "CSDouchy",
            "Douchy-les-Mines",
            Channel.Status.NEEDS_RECONNECTION,
            "",
        ),
        (Network.TIKTOK, "Jeunesse Denain", "@jeunesse_denain", "Denain", Channel.Status.ACTIVE, ""),
        (
            Network.MASTODON,
            "Centre social de Cambrai",
            "@cs_cambrai@mastodon.social",
            "Cambrai",
            Channel.Status.ACTIVE,
            "",
        ),
        (
            Network.BLUESKY,
            "Centre social Lille Moulins",
            "cs-lille-moulins.bsky.social",
            "Lille",
            Channel.Status.ACTIVE,
            "",
        ),
        (Network.SNAPCHAT, "Espace jeunes Lille", "espacejeunes.lille", "Lille", Channel.Status.DISABLED, ""),
    ],
}

QUEBEC = {
    "slug": "demo-scc-quebec",
    "name": "SCC — Division du Québec",
    "time_zone": "America/Toronto",
    "language": "fr",
    "groups": [
        ("Division du Québec", L.NATIONAL, None),
        ("Montérégie", L.REGIONAL, "Division du Québec"),
        ("Montréal", L.REGIONAL, "Division du Québec"),
        ("Capitale-Nationale", L.REGIONAL, "Division du Québec"),
    ],
    "channels": [
        (
            Network.FACEBOOK,
            "Société canadienne du cancer – Division du Québec",
            "SCCQuebec",
            "Division du Québec",
            Channel.Status.ACTIVE,
            "",
        ),
        (Network.X, "SCC Québec", "@SCC_Quebec", "Division du Québec", Channel.Status.ACTIVE, ""),
        (
            Network.LINKEDIN,
            "Société canadienne du cancer – Québec",
            "societe-canadienne-du-cancer-quebec",
            "Division du Québec",
            Channel.Status.ACTIVE,
            "",
        ),
        (Network.YOUTUBE, "SCC Québec", "@sccquebec", "Division du Québec", Channel.Status.ACTIVE, ""),
        (Network.FACEBOOK, "SCC – Montérégie", "SCCMonteregie", "Montérégie", Channel.Status.ACTIVE, ""),
    ],
}


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: Role
    scope: tuple[str, ...] = ()  # page group names of the Bassin minier organisation
    also_quebec: bool = False


PEOPLE = [
    DemoPerson(f"admin@{DEMO_DOMAIN}", "Camille Martin", Role.ADMIN, also_quebec=True),
    DemoPerson(f"validation@{DEMO_DOMAIN}", "Sophie Lefebvre", Role.VALIDATOR),
    DemoPerson(f"redaction@{DEMO_DOMAIN}", "Karim Benali", Role.EDITOR, scope=("Valenciennes",)),
    DemoPerson(f"moderation@{DEMO_DOMAIN}", "Julie Dubois", Role.MODERATOR),
    DemoPerson(f"statistiques@{DEMO_DOMAIN}", "Marc Petit", Role.ANALYST),
]


def _organisation(spec: dict) -> Organisation:
    organisation, _created = Organisation.objects.get_or_create(
        slug=spec["slug"],
        defaults={
            "name": spec["name"],
            "time_zone": spec["time_zone"],
            "language": spec["language"],
            "is_demo": True,
        },
    )
    groups: dict[str, PageGroup] = {}
    for name, level, parent in spec["groups"]:
        groups[name], _created = PageGroup.objects.get_or_create(
            organisation=organisation,
            name=name,
            defaults={"level": level, "parent": groups.get(parent) if parent else None},
        )
    for network, display_name, handle, group, status, zone in spec["channels"]:
        remote_id = f"demo-{network}-{handle.strip('@').split('@')[0]}"
        Channel.objects.get_or_create(
            organisation=organisation,
            network=network,
            handle=handle,
            defaults={
                "display_name": display_name,
                "group": groups[group],
                "status": status,
                "time_zone": zone,
                "remote_id": remote_id,
                # The Atom feed is the one channel that truly publishes offline: its address is public.
                "config": {"feed_token": remote_id, "subtitle": "Les nouvelles des centres sociaux"}
                if network == Network.ATOM
                else {},
            },
        )
    return organisation


# Posts on the demo's Atom feed: two go out as soon as the worker starts, one a little later, one tomorrow.
ATOM_POSTS = [
    (timedelta(0), "Bienvenue sur le fil d'actualités du réseau des centres sociaux du Bassin minier !"),
    (
        timedelta(0),
        "Atelier numérique gratuit jeudi à 14 h au centre social de Valenciennes : créer sa boîte mail, "
        "faire ses démarches en ligne. Inscription à l'accueil. #numérique #inclusion",
    ),
    (timedelta(minutes=15), "Rappel : la fête de quartier de Denain, c'est samedi de 11 h à 18 h. Venez nombreux !"),
]


# Three weeks of life around "now" on the demo's pages (texts like the decks' examples). Offsets in days, then the
# local hour; negative days are history. Only the Atom feed truly publishes offline, so upcoming posts on the
# other networks are drafts or await approval (a scheduled one would be sent to a network the demo cannot reach).
HISTORY = [
    (
        -20,
        18,
        "Centres Sociaux Connectés du Bassin Minier",
        "Retour en images sur la fête de quartier de Denain : merci aux 40 bénévoles !",
    ),
    (
        -18,
        12,
        "Centre social de Valenciennes",
        "Les inscriptions à l'aide aux devoirs sont ouvertes : rendez-vous à l'accueil du centre.",
    ),
    (-15, 17, "Centres sociaux connectés", "Atelier cuisine du monde : on a préparé des samoussas ! #cuisine #partage"),
    (
        -12,
        10,
        "Centre social de Cambrai",
        "Permanence numérique tous les mardis de 14 h à 17 h : démarches en ligne, mails, CV.",
    ),
    (-9, 19, "Centre social Lille Moulins", "Soirée jeux de société vendredi 19 h, entrée libre. #Lille #jeux"),
    (
        -6,
        12,
        "Centre social de Valenciennes",
        "Sortie familles à la mer le 12 : il reste 8 places, inscrivez-vous vite.",
    ),
    (
        -3,
        18,
        "Centres Sociaux Connectés du Bassin Minier",
        "Assemblée générale du réseau : merci à toutes et tous d'être venus si nombreux.",
    ),
    (-1, 11, "Centres sociaux connectés", "Les coulisses de l'atelier couture du mercredi. #couture #faitmain"),
]
UPCOMING = [
    # (days ahead, local hour, channel, text, state)
    (
        1,
        12,
        "Centre social de Valenciennes",
        "Café des parents jeudi 9 h : le thème sera le sommeil des petits.",
        "awaiting_approval",
    ),
    (
        2,
        17,
        "Centres sociaux connectés",
        "Vidéo : trois minutes pour comprendre l'accompagnement scolaire. #CLAS",
        "awaiting_approval",
    ),
    (
        4,
        18,
        "Centres Sociaux Connectés du Bassin Minier",
        "Appel à bénévoles pour la fête de fin d'année : écrivez-nous !",
        "draft",
    ),
    (6, 10, "Centre social de Cambrai", "Le centre sera fermé lundi pour la formation de l'équipe.", "draft"),
    (9, 19, "Centre social Lille Moulins", "Concert des ateliers musique samedi 18 h au centre.", "awaiting_approval"),
    (
        3,
        9,
        "Actualités du réseau (fil Atom)",
        "Programme des vacances : ateliers, sorties et stages pour tous les âges.",
        "scheduled",
    ),
    (
        8,
        9,
        "Actualités du réseau (fil Atom)",
        "Retour sur l'assemblée générale : le compte rendu est en ligne.",
        "scheduled",
    ),
]


def _demo_posts(organisation: Organisation, admin: User) -> None:
    from zoneinfo import ZoneInfo

    from beffroi.publishing.models import Post, Publication, fingerprint
    from beffroi.publishing.states import State

    feed = Channel.objects.filter(organisation=organisation, network=Network.ATOM).first()
    if feed is None or Publication.objects.filter(channel__organisation=organisation).exists():
        return
    now = timezone.now()
    zone = ZoneInfo(organisation.time_zone)
    today = timezone.localtime(now, zone).date()
    channels = {c.display_name: c for c in Channel.objects.filter(organisation=organisation)}

    def at(days: int, hour: int):
        from datetime import datetime, time

        return datetime.combine(today + timedelta(days=days), time(hour), tzinfo=zone)

    def add(channel: Channel, text: str, when, state: str, **outcome) -> None:
        post = Post.objects.create(organisation=organisation, author=admin, text=text)
        Publication.objects.create(
            post=post,
            channel=channel,
            state=state,
            due_at=when,
            run_at=when if state == State.SCHEDULED else None,
            scheduled_local=when.replace(tzinfo=None).isoformat(timespec="minutes"),
            scheduled_tz=organisation.time_zone,
            content_fingerprint=fingerprint(text),
            **outcome,
        )

    # History, marked published with the demo's own addresses (the demo cannot reach real networks).
    for days, hour, name, text in HISTORY:
        channel, when = channels[name], at(days, hour)
        add(
            channel,
            text,
            when,
            State.PUBLISHED,
            published_at=when + timedelta(seconds=4),
            remote_id=f"demo-{channel.pk}-{days}",
            remote_url=f"https://demo.beffroi.example/{channel.network}/{channel.pk}/{-days}",
        )
    for days, hour, name, text, state in UPCOMING:
        add(channels[name], text, at(days, hour), state)
    # Two posts on the feed go out as soon as the worker starts, one a little later.
    for delay, text in ATOM_POSTS:
        add(feed, text, now + delay, State.SCHEDULED)


@transaction.atomic
def load_demo() -> list[DemoPerson]:
    bassin = _organisation(BASSIN_MINIER)
    quebec = _organisation(QUEBEC)
    for person in PEOPLE:
        user = User.objects.filter(email=person.email).first()
        if user is None:
            user = User.objects.create_user(person.email, DEMO_PASSWORD, full_name=person.name)
            from allauth.account.models import EmailAddress

            EmailAddress.objects.get_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
        membership, created = Membership.objects.get_or_create(
            organisation=bassin, user=user, defaults={"role": person.role}
        )
        if created and person.scope:
            membership.groups.set(PageGroup.objects.filter(organisation=bassin, name__in=person.scope))
        if person.also_quebec:
            Membership.objects.get_or_create(organisation=quebec, user=user, defaults={"role": person.role})
    admin = Membership.objects.filter(organisation=bassin, role=Role.ADMIN).select_related("user").first()
    _demo_posts(bassin, admin.user if admin else None)
    return PEOPLE
