from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "beffroi.accounts"
    label = "accounts"
