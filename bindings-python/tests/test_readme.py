"""The README's Python snippets run as written (in a temporary folder), and do what the
README says they do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

import sonde
from sonde.fastapi import SondeMiddleware

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(snippet, str(README), "exec"), namespace)
    return namespace


FASTAPI, FLASK, DJANGO_SETTINGS, QUICKSTART = range(4)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) == 4


def test_the_fastapi_snippet_records_requests_and_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = run(SNIPPETS[FASTAPI])
    client: sonde.Sonde = namespace["sonde"]
    with TestClient(namespace["app"]) as http:
        assert http.get("/items/3").json() == {"id": 3}
        stored = http.get(
            "/analytics/events", params={"event": "Item Viewed"}, headers={"X-API-Key": "change-me"}
        )
        assert http.get("/analytics/events").status_code == 401, "reads need the API key"
    client.flush(5.0)
    (viewed,) = client.query_events(event="Item Viewed")["events"]
    assert viewed["properties"] == {"item_id": 3} and viewed["userId"] == "user-7"
    assert stored.status_code == 200
    assert client.stats()["routes"]["GET /items/{item_id}"]["count"] == 1
    assert (tmp_path / "sonde.db").exists()
    client.shutdown(5.0)


def test_the_client_snippet_stores_what_it_tracks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run(SNIPPETS[QUICKSTART])  # its own asserts check the query, the error code and the statistics
    with sonde.Sonde(store=str(tmp_path / "events.db")) as reopened:
        stored = reopened.query_events(limit=100)["events"]
    assert {e.get("event") for e in stored} >= {"Signed Up", "$api_request", "$performance"}
    timing = next(e for e in stored if e.get("event") == "$performance")
    assert timing["properties"]["operation"] == "load_catalog"


def test_the_flask_snippet_records_its_routes_and_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = run(SNIPPETS[FLASK])
    client: sonde.Sonde = namespace["client"]
    http = namespace["app"].test_client()
    assert http.get("/items/3", buffered=True).json == {"id": 3}
    client.flush(5.0)
    (viewed,) = client.query_events(event="Item Viewed")["events"]
    (request,) = client.query_events(event="$api_request")["events"]
    assert viewed["userId"] == request["userId"] == "user-7"
    assert request["properties"]["http.route"] == "/items/<int:item_id>"
    client.shutdown(5.0)


DJANGO_RUN = """
import sys
sys.path.insert(0, ".")
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "readme_settings"
import django
django.setup()
from django.test import Client
import sonde.django
assert Client().get("/items/5").json() == {"id": 5}
client = sonde.django.client()
client.flush(5.0)
(request,) = client.query_events(event="$api_request")["events"]
print(request["properties"]["http.route"], request.get("anonymousId"))
"""

DJANGO_PROJECT = """
from django.http import JsonResponse
from django.urls import path

ROOT_URLCONF = "readme_settings"
SECRET_KEY = "readme"
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
urlpatterns = [path("items/<int:item_id>", lambda request, item_id: JsonResponse({"id": item_id}))]
"""


def test_the_django_settings_snippet_works_in_a_project(tmp_path: Path) -> None:
    # Its own process: Django's settings are configured once per process.
    (tmp_path / "readme_settings.py").write_text(SNIPPETS[DJANGO_SETTINGS] + DJANGO_PROJECT)
    out = subprocess.run(
        [sys.executable, "-c", DJANGO_RUN],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["/items/<int:item_id>", "$personless"]


def test_plain_starlette_gets_route_templates_from_the_asgi_middleware(tmp_path: Path) -> None:
    client = sonde.Sonde(store=str(tmp_path / "s.db"))

    async def item(request: Any) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    app = Starlette(
        routes=[Route("/items/{item_id:int}", item)],
        middleware=[Middleware(SondeMiddleware, sonde=client)],
    )
    with TestClient(app) as http:
        assert http.get("/items/4").json() == {"id": 4}
    client.flush(5.0)
    (request,) = client.query_events(event="$api_request")["events"]
    assert request["properties"]["http.route"] == "/items/{item_id}"
    client.shutdown(5.0)
