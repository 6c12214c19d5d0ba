"""The README's Python snippets run as written (in a temporary folder), and do what the
README says they do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import sonde

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(snippet, str(README), "exec"), namespace)
    return namespace


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) == 2


def test_the_fastapi_snippet_records_requests_and_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = run(SNIPPETS[0])
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
    run(SNIPPETS[1])  # its own asserts check the query, the error code and the statistics
    with sonde.Sonde(store=str(tmp_path / "events.db")) as reopened:
        stored = reopened.query_events(limit=100)["events"]
    assert {e.get("event") for e in stored} >= {"Signed Up", "$api_request", "$performance"}
    timing = next(e for e in stored if e.get("event") == "$performance")
    assert timing["properties"]["operation"] == "load_catalog"
