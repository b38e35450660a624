"""The REST API (django-ninja, OpenAPI at /api/v1/docs). Same services and the same access rules as the pages.

Authentication: the browser session (with CSRF on writes). Personal API tokens arrive with the API issue.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, File, NinjaAPI, Schema, Status, UploadedFile
from ninja.errors import HttpError
from ninja.security import django_auth

from beffroi.channels import services as channel_services
from beffroi.channels.models import Channel
from beffroi.core.timezones import validate_time_zone
from beffroi.organisations.models import Membership, PageGroup
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import membership_for, require
from beffroi.publishing import services as publishing
from beffroi.publishing.models import Publication

api = NinjaAPI(title="Beffroi API", version="1", auth=django_auth, urls_namespace="api")


class OrganisationOut(Schema):
    slug: str
    name: str
    time_zone: str
    language: str
    is_demo: bool
    role: str


class GroupOut(Schema):
    id: int
    name: str
    level: int
    parent_id: int | None


class ChannelOut(Schema):
    id: int
    network: str
    display_name: str
    handle: str
    remote_id: str
    group_id: int | None
    time_zone: str
    effective_time_zone: str
    status: str


class ChannelPatch(Schema):
    display_name: str | None = None
    group_id: int | None = None
    time_zone: str | None = None
    status: str | None = None


class PublicationOut(Schema):
    id: int
    post_id: int
    channel_id: int
    state: str
    due_at: datetime | None
    scheduled_local: str
    scheduled_tz: str
    time_note: str = Field("", description="Which occurrence was taken when the time happens twice that day")
    remote_id: str
    remote_url: str
    published_at: datetime | None
    last_error: str
    version: int


class MediaRef(Schema):
    id: int
    alt_text: str = ""


class PostIn(Schema):
    text: str
    channel_ids: list[int]
    scheduled_at: datetime | None = Field(
        None, description="Wall-clock time without offset, in `time_zone` (or each channel's zone); empty = now"
    )
    time_zone: str | None = None
    fold: int | None = Field(None, description="1 = the second occurrence of a time repeated when clocks go back")
    variants: dict[int, str] | None = None
    media: list[MediaRef] = Field(default_factory=list, description="Files uploaded with POST …/media, in order")
    options: dict[int, dict] | None = Field(
        None, description="Per channel: content_warning, visibility, poll, thread, reply_control, instagram_kind…"
    )
    link: str = ""
    first_comment: str = ""
    duplicate_reason: str = Field(
        "", description="Why the same post goes to several of the organisation's pages of one network anyway"
    )
    remove_at: datetime | None = Field(
        None, description="A temporary post: wall-clock end time (same zone rule as scheduled_at), then removed"
    )


class CheckIn(Schema):
    text: str
    limit: int | None = Field(None, gt=0, description="The channel's own text limit (a Mastodon instance's)")
    content_warning: str = ""
    media: list[MediaRef] = Field(default_factory=list)


class ProblemOut(Schema):
    code: str
    message: str


class CheckOut(Schema):
    network: str
    length: int
    limit: int
    unit: str
    ok: bool
    errors: list[ProblemOut]
    warnings: list[ProblemOut]


class MediaOut(Schema):
    id: int
    name: str = Field(alias="original_name")
    mime_type: str
    kind: str
    size: int
    width: int | None
    height: int | None
    duration_s: float | None
    public_url: str


class RescheduleIn(Schema):
    scheduled_at: datetime | None = None
    time_zone: str | None = None
    fold: int | None = None


class MemberOut(Schema):
    id: int
    email: str
    name: str
    role: str
    group_ids: list[int]


def _membership(request, slug: str, action: Action = Action.VIEW_ORGANISATION) -> Membership:
    membership = membership_for(request.user, slug)  # 404 outside one's organisations
    try:
        require(membership, action)
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    return membership


def _organisation_out(membership: Membership) -> OrganisationOut:
    organisation = membership.organisation
    return OrganisationOut(
        slug=organisation.slug,
        name=organisation.name,
        time_zone=organisation.time_zone,
        language=organisation.language,
        is_demo=organisation.is_demo,
        role=membership.role,
    )


@api.get("/organisations", response=list[OrganisationOut])
def list_organisations(request):
    return [_organisation_out(m) for m in request.user.memberships.select_related("organisation")]


@api.get("/organisations/{slug}", response=OrganisationOut)
def get_organisation(request, slug: str):
    return _organisation_out(_membership(request, slug))


@api.get("/organisations/{slug}/groups", response=list[GroupOut])
def list_groups(request, slug: str):
    membership = _membership(request, slug)
    return PageGroup.objects.filter(organisation=membership.organisation)


@api.get("/organisations/{slug}/channels", response=list[ChannelOut])
def list_channels(request, slug: str):
    membership = _membership(request, slug, Action.VIEW_CHANNELS)
    return Channel.objects.visible_to(membership).select_related("organisation")


@api.get("/organisations/{slug}/channels/{channel_id}", response=ChannelOut)
def get_channel(request, slug: str, channel_id: int):
    membership = _membership(request, slug, Action.VIEW_CHANNELS)
    return get_object_or_404(Channel.objects.visible_to(membership).select_related("organisation"), pk=channel_id)


@api.patch("/organisations/{slug}/channels/{channel_id}", response=ChannelOut)
def update_channel(request, slug: str, channel_id: int, payload: ChannelPatch):
    membership = _membership(request, slug, Action.MANAGE_CHANNELS)
    channel = get_object_or_404(Channel.objects.visible_to(membership).select_related("organisation"), pk=channel_id)
    changes = payload.dict(exclude_unset=True)
    group = channel.group
    if "group_id" in changes:
        group_id = changes["group_id"]
        group = (
            None if group_id is None else get_object_or_404(PageGroup, pk=group_id, organisation=channel.organisation)
        )
    try:
        channel_services.update_channel(
            channel,
            display_name=changes.get("display_name", channel.display_name),
            group=group,
            time_zone=changes.get("time_zone", channel.time_zone),
            status=changes.get("status", channel.status),
        )
    except ValidationError as exc:
        raise HttpError(422, "; ".join(exc.messages)) from exc
    return channel


def _naive(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is not None:
        raise HttpError(422, "scheduled_at is a wall-clock time: give it without an offset, and the zone in time_zone")
    return moment


def _service_call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ValidationError as exc:
        raise HttpError(422, " ".join(exc.messages)) from exc
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc


@api.post("/organisations/{slug}/posts", response={201: list[PublicationOut]})
def create_post(request, slug: str, payload: PostIn):
    """Writes a post for several channels and schedules it (an editor's post waits for approval)."""
    membership = _membership(request, slug, Action.COMPOSE)
    if payload.time_zone:
        _service_call(validate_time_zone, payload.time_zone)
    post = _service_call(
        publishing.create_and_schedule_post,
        membership,
        text=payload.text,
        channel_ids=payload.channel_ids,
        local=_naive(payload.scheduled_at),
        zone=payload.time_zone,
        fold=payload.fold,
        variants=payload.variants,
        media=_media(membership, payload.media),
        options=payload.options,
        link=payload.link,
        first_comment=payload.first_comment,
        duplicate_reason=payload.duplicate_reason,
        remove_local=_naive(payload.remove_at),
    )
    return Status(201, list(post.publications.all()))


def _media(membership: Membership, refs: list[MediaRef]) -> list:
    from beffroi.media.models import MediaFile

    found = MediaFile.objects.filter(organisation=membership.organisation, pk__in=[ref.id for ref in refs]).in_bulk()
    if len(found) != len({ref.id for ref in refs}):
        raise HttpError(422, "Unknown file.")
    return [(found[ref.id], ref.alt_text) for ref in refs]


@api.get("/networks", auth=None)
def list_networks(request):
    """What each network accepts (text limits and how they are counted, media, threads, polls…)."""
    from beffroi.networks.registry import all_capabilities

    return [capabilities.as_json() for capabilities in all_capabilities().values()]


@api.post("/organisations/{slug}/networks/{network}/check", response=CheckOut)
def check_post(request, slug: str, network: str, payload: CheckIn):
    """Checks a post against a network's rules: the same validator as the composer and `beffroi check`."""
    from beffroi.networks.registry import capabilities_for
    from beffroi.networks.validation import check_post as check

    membership = _membership(request, slug, Action.COMPOSE)
    capabilities = capabilities_for(network)
    if capabilities is None:
        raise HttpError(404, "Unknown network.")
    media = [item.as_input(alt) for item, alt in _media(membership, payload.media)]
    result = check(
        capabilities, payload.text, media=media, limit=payload.limit, content_warning=payload.content_warning
    )
    return result.as_json()


@api.post("/organisations/{slug}/media", response={201: MediaOut})
def upload_media(request, slug: str, file: UploadedFile | None = File(None)):  # noqa: B008 — ninja's style
    """Uploads a picture or a video (checked from its bytes; the same file twice is stored once)."""
    from beffroi.media.services import UploadRefused, store_upload

    membership = _membership(request, slug, Action.COMPOSE)  # first: another organisation's slug is a 404
    if file is None:
        raise HttpError(422, "Send the file as multipart form data, in the field `file`.")
    try:
        media = store_upload(membership.organisation, file, uploaded_by=request.user, name=file.name or "")
    except UploadRefused as refused:
        raise HttpError(422, str(refused)) from refused
    return Status(201, media)


class QueueSlotIO(Schema):
    weekday: int = Field(description="0 = Monday … 6 = Sunday")
    time: str = Field(description="HH:MM, in the channel's time zone")


class QueuedPostIn(Schema):
    text: str
    channel_ids: list[int]
    variants: dict[int, str] | None = None
    media: list[MediaRef] = Field(default_factory=list)
    options: dict[int, dict] | None = None
    link: str = ""
    first_comment: str = ""
    duplicate_reason: str = ""


@api.put("/organisations/{slug}/channels/{channel_id}/queue", response=list[QueueSlotIO])
def set_queue(request, slug: str, channel_id: int, payload: list[QueueSlotIO]):
    """Replaces the channel's weekly queue slots."""
    from beffroi.publishing.queues import set_slots

    membership = _membership(request, slug, Action.MANAGE_CHANNELS)
    channel = get_object_or_404(Channel.objects.visible_to(membership), pk=channel_id)
    slots = _service_call(set_slots, channel, [(slot.weekday, slot.time) for slot in payload])
    return [QueueSlotIO(weekday=s.weekday, time=s.time.strftime("%H:%M")) for s in slots]


@api.post("/organisations/{slug}/posts/queue", response={201: list[PublicationOut]})
def queue_post(request, slug: str, payload: QueuedPostIn):
    """Adds a post to each channel's queue: its next free slot, in the channel's zone."""
    membership = _membership(request, slug, Action.COMPOSE)
    post = _service_call(
        publishing.add_to_queue,
        membership,
        text=payload.text,
        channel_ids=payload.channel_ids,
        variants=payload.variants,
        media=_media(membership, payload.media),
        options=payload.options,
        link=payload.link,
        first_comment=payload.first_comment,
        duplicate_reason=payload.duplicate_reason,
    )
    return Status(201, list(post.publications.all()))


class DecisionIn(Schema):
    comment: str = ""


def _post(membership: Membership, post_id: int):
    """A post going to a channel this person sees, or awaiting their approval (approval chains)."""
    from beffroi.publishing.approvals import visible_post

    post = visible_post(membership, post_id)
    if post is None:
        raise HttpError(404, "Not Found")
    return post


@api.post("/organisations/{slug}/posts/{post_id}/approve", response=list[PublicationOut])
def approve(request, slug: str, post_id: int, payload: DecisionIn):
    """Approves the step each of the post's publications waits for, where you are an approver of it (any validator
    of the page when its group has no approval chain). After the last step it is scheduled for its chosen time.
    403 when the post waits for someone else's step."""
    membership = _membership(request, slug, Action.APPROVE)
    return _service_call(publishing.approve_post, membership, _post(membership, post_id), comment=payload.comment)


@api.post("/organisations/{slug}/posts/{post_id}/reject", response=list[PublicationOut])
def reject(request, slug: str, post_id: int, payload: DecisionIn):
    """Sends a post back to its author as a draft, with your comment (required)."""
    membership = _membership(request, slug, Action.APPROVE)
    return _service_call(publishing.reject_post, membership, _post(membership, post_id), comment=payload.comment)


@api.post("/organisations/{slug}/publications/{publication_id}/delete", response=PublicationOut)
def delete_from_network(request, slug: str, publication_id: int):
    """Deletes a published post from its network (where the network allows it)."""
    membership = _membership(request, slug, Action.PUBLISH)
    return _service_call(publishing.delete_publication, membership, _publication(membership, publication_id))


@api.get("/organisations/{slug}/publications", response=list[PublicationOut])
def list_publications(request, slug: str, state: str | None = None):
    membership = _membership(request, slug, Action.VIEW_PUBLICATIONS)
    publications = Publication.objects.filter(channel__in=Channel.objects.visible_to(membership))
    if state:
        publications = publications.filter(state=state)
    return publications.order_by("due_at", "pk")[:500]


def _publication(membership: Membership, publication_id: int) -> Publication:
    return get_object_or_404(
        Publication.objects.filter(channel__in=Channel.objects.visible_to(membership)).select_related("channel"),
        pk=publication_id,
    )


@api.post("/organisations/{slug}/publications/{publication_id}/reschedule", response=PublicationOut)
def reschedule(request, slug: str, publication_id: int, payload: RescheduleIn):
    membership = _membership(request, slug, Action.PUBLISH)
    publication = _publication(membership, publication_id)
    if payload.time_zone:
        _service_call(validate_time_zone, payload.time_zone)
    return _service_call(
        publishing.reschedule_publication,
        membership,
        publication,
        local=_naive(payload.scheduled_at),
        zone=payload.time_zone,
        fold=payload.fold,
    )


@api.post("/organisations/{slug}/publications/{publication_id}/cancel", response=PublicationOut)
def cancel(request, slug: str, publication_id: int):
    membership = _membership(request, slug, Action.COMPOSE)
    return _service_call(publishing.cancel_publication, membership, _publication(membership, publication_id))


@api.get("/organisations/{slug}/members", response=list[MemberOut])
def list_members(request, slug: str):
    membership = _membership(request, slug, Action.MANAGE_MEMBERS)
    return [
        MemberOut(
            id=m.pk,
            email=m.user.email,
            name=m.user.full_name,
            role=m.role,
            group_ids=[g.pk for g in m.groups.all()],
        )
        for m in membership.organisation.memberships.select_related("user").prefetch_related("groups")
    ]


class ImportProblemOut(Schema):
    line: int = Field(description="As a spreadsheet numbers it: the header is line 1")
    column: str
    message: str


class ImportReportOut(Schema):
    rows: int
    good: int
    bad: int
    problems: list[ImportProblemOut]


class ImportDoneOut(Schema):
    created: int
    post_ids: list[int]


class ImportRefusedOut(Schema):
    detail: str
    report: ImportReportOut | None = None


@api.post(
    "/organisations/{slug}/posts/import",
    response={200: ImportReportOut, 201: ImportDoneOut, 422: ImportRefusedOut},
)
def import_posts(request, slug: str, dry_run: bool = True, file: UploadedFile | None = File(None)):  # noqa: B008
    """Imports posts from a CSV file (columns: date, time, time_zone, channels, text, link, first_comment, fold).

    `dry_run=true` (the default) checks every row and creates nothing; `dry_run=false` creates one post per row,
    or none at all when a row is bad (422 with the report).
    """
    from beffroi.publishing import bulk

    membership = _membership(request, slug, Action.COMPOSE)  # first: another organisation's slug is a 404
    if file is None:
        raise HttpError(422, "Send the CSV file as multipart form data, in the field `file`.")
    data = file.read(bulk.MAX_BYTES + 1)
    try:
        if dry_run:
            return Status(200, bulk.dry_run(membership, data).as_json())
        posts = bulk.import_posts(membership, data)
    except bulk.ImportRefused as refused:
        return Status(422, {"detail": refused.messages[0], "report": refused.report.as_json()})
    except ValidationError as exc:
        return Status(422, {"detail": " ".join(exc.messages), "report": None})
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    return Status(201, {"created": len(posts), "post_ids": [post.pk for post in posts]})


@api.get("/organisations/{slug}/posts/export")
def export_posts(request, slug: str, state: str | None = None, channel: int | None = None):
    """The posts (scheduled by default: `state` to choose) as a CSV file the import reads back."""
    from django.http import HttpResponse

    from beffroi.publishing import bulk
    from beffroi.publishing.views import filtered_publications

    membership = _membership(request, slug, Action.VIEW_PUBLICATIONS)
    params = {key: value for key, value in {"state": state, "channel": channel}.items() if value is not None}
    text = bulk.export_posts(membership, filtered_publications(membership, params))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="beffroi-{membership.organisation.slug}.csv"'
    return response
