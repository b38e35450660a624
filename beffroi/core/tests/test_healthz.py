from __future__ import annotations

from unittest import mock

import pytest
from django.db.utils import OperationalError
from django.test import Client


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_answers():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker": {"running": False, "heartbeat_age_s": None},
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_does_not():
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.django_db
def test_healthz_reports_the_worker_heartbeat_age():
    from datetime import timedelta

    from django.utils import timezone

    from beffroi.publishing.models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, started_at=now, beat_at=now - timedelta(seconds=3)
    )
    worker = Client().get("/healthz").json()["worker"]
    assert worker["running"] is True and 2.5 <= worker["heartbeat_age_s"] < 10
    WorkerHeartbeat.objects.update(beat_at=now - timedelta(minutes=5))
    worker = Client().get("/healthz").json()["worker"]
    assert worker["running"] is False and worker["heartbeat_age_s"] >= 300
