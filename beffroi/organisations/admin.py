from django.contrib import admin

from beffroi.organisations.models import Invitation, Membership, Organisation, PageGroup


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "language", "is_demo"]
    search_fields = ["name", "slug"]


@admin.register(PageGroup)
class PageGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "level", "parent"]
    list_filter = ["organisation", "level"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role"]
    list_filter = ["organisation", "role"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organisation", "role", "created_at", "accepted_at", "revoked_at"]
    exclude = ["token"]
