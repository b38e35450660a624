from __future__ import annotations

from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    """Liveness for load balancers and monitors: 200 when the database answers, 503 otherwise.

    Also says how long ago a publishing worker last reported (a monitor can alert on it).
    """
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except DatabaseError:
        checks["database"] = "unreachable"
    healthy = all(value == "ok" for value in checks.values())
    payload: dict = {"status": "ok" if healthy else "error", **checks}
    if healthy:
        payload["worker"] = worker_status()
    return JsonResponse(payload, status=200 if healthy else 503)


def worker_status() -> dict:
    """Age of the freshest publishing-worker heartbeat (None when no worker has ever run)."""
    from django.apps import apps
    from django.utils import timezone

    heartbeat = apps.get_model("publishing", "WorkerHeartbeat").objects.order_by("-beat_at").first()
    if heartbeat is None:
        return {"running": False, "heartbeat_age_s": None}
    age = (timezone.now() - heartbeat.beat_at).total_seconds()
    return {"running": age < 60, "heartbeat_age_s": round(age, 1)}
