"""The Django integration against real Django (settings configured for this module, its
test client): resolved routes, unmatched paths, errors, sizes, identify by dotted path."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.conf import settings

from conftest import Collector

COLLECTOR = Collector()


def user_of(request: Any) -> str | None:
    """The `identify` hook, named by its dotted path in the settings."""
    if request.headers.get("x-user") == "explode":
        raise RuntimeError("bug in identify")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return str(user.pk)
    return request.headers.get("x-user")


if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        SECRET_KEY="test-only",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "sonde.django.SondeMiddleware",
        ],
        SONDE={"sink": COLLECTOR, "flush_interval": 3600},
        SONDE_MIDDLEWARE={
            "identify": f"{__name__}.user_of",
            "exclude_paths": ["/health"],
            "process_time_header": True,
        },
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402

import sonde.django  # noqa: E402


def item(request: HttpRequest, item_id: int) -> JsonResponse:
    return JsonResponse({"id": item_id})


def boom(request: HttpRequest) -> JsonResponse:
    raise KeyError("missing")


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("items/<int:item_id>", item), path("boom", boom), path("health", health)]


def test_django_requests_are_recorded_with_resolved_routes_and_users(
    caplog: pytest.LogCaptureFixture,
) -> None:
    http = Client(raise_request_exception=False)
    response = http.get("/items/7", headers={"x-user": "u-7", "user-agent": "django-test"})
    assert response.json() == {"id": 7} and "X-Process-Time" in response.headers
    assert http.get("/items/8").status_code == 200
    assert http.get("/nowhere").status_code == 404
    assert http.get("/boom").status_code == 500
    assert http.get("/health").status_code == 200
    assert http.get("/items/9", headers={"x-user": "explode"}).status_code == 200
    client = sonde.django.client()
    client.flush(5.0)
    found = [e for e in COLLECTOR.events if e["event"] == "$api_request"]
    assert [
        (e["properties"]["http.route"], e["properties"]["http.response.status_code"]) for e in found
    ] == [
        ("/items/<int:item_id>", 200),
        ("/items/<int:item_id>", 200),
        ("__unmatched__", 404),
        ("/boom", 500),
        ("/items/<int:item_id>", 200),
    ]
    assert [(e.get("userId"), e.get("anonymousId")) for e in found] == [
        ("u-7", None),
        (None, "$personless"),
        (None, "$personless"),
        (None, "$personless"),
        (None, "$personless"),
    ]
    assert found[0]["properties"]["user_agent.original"] == "django-test"
    assert found[0]["properties"]["http.response.body.size"] == len(b'{"id": 7}')
    (error,) = [e for e in COLLECTOR.events if e["event"] == "$error"]
    assert error["properties"]["error.type"] == "KeyError"
    assert any("identify raised" in r.getMessage() for r in caplog.records)
    assert client.stats()["routes"]["GET /items/<int:item_id>"]["count"] == 3
