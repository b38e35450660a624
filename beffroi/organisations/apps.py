from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "beffroi.organisations"
    label = "organisations"
