from django.contrib import admin

from beffroi.accounts.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "full_name", "is_active", "is_staff", "last_login"]
    search_fields = ["email", "full_name"]
    fields = ["email", "full_name", "time_zone", "language", "is_active", "is_staff", "is_superuser"]
