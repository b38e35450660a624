"""The statistics pages, under /o/<slug>/insights/ (included from beffroi/urls.py)."""

from __future__ import annotations

from django.urls import path

from beffroi.insights import views

urlpatterns = [
    path("", views.overview_page, name="insights"),
    path("audience/", views.audience_page, name="insights_audience"),
    path("online/", views.online_page, name="insights_online"),
    path("best-time/", views.best_time_page, name="insights_best_time"),
    path("posts/", views.posts_page, name="insights_posts"),
    path("posts/<int:post_id>/", views.post_page, name="insights_post"),
    path("watched/", views.watched_page, name="insights_watched"),
    path("watched/<int:account_id>/read/", views.watched_read, name="insights_watched_read"),
    path("watched/<int:account_id>/remove/", views.watched_remove, name="insights_watched_remove"),
    path("collection/", views.collection_page, name="insights_collection"),
    path("collection/<int:channel_id>/collect/", views.collect_now, name="insights_collect_now"),
    path("reports/", views.reports_page, name="insights_reports"),
    path("reports/<int:subscription_id>/delete/", views.report_unsubscribe, name="insights_report_unsubscribe"),
    path("report.pdf", views.report_pdf, name="insights_report_pdf"),
]
