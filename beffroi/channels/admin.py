from django.contrib import admin

from beffroi.channels.models import Channel


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["display_name", "network", "organisation", "group", "status"]
    list_filter = ["network", "status"]
    search_fields = ["display_name", "handle"]
    # Credentials are deliberately absent: they are never shown, not even to superusers.
    fields = ["organisation", "group", "network", "display_name", "handle", "remote_id", "time_zone", "status"]
