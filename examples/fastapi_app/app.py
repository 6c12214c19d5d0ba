"""A small shop API instrumented with Sonde: every request is timed and stored in
./sonde.db, and the analytics endpoints live under /analytics (the dashboard at
/analytics/dashboard, key `dev-key`).

    uvicorn app:app --host 127.0.0.1 --port 8000      (or `make demo` from the repo root)

SONDE_STORE and SONDE_API_KEY change the store and the key (the other SONDE_* variables of
the README's table apply as usual); SHOP_SONDE_OPTIONS (a JSON object) adds keyword options
for `instrument`, e.g. '{"metrics_interval": 1}'.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from sonde.fastapi import instrument

HERE = Path(__file__).resolve().parent
BROWSER_DEMO = HERE.parent / "browser"
# The browser package (`make wasm` builds its pkg/); the demo page loads it from here.
BROWSER_PACKAGE = HERE.parent.parent / "bindings-wasm"

app = FastAPI(title="Sonde example shop")
sonde = instrument(
    app,
    store=os.environ.get("SONDE_STORE", "sonde.db"),
    api_key=os.environ.get("SONDE_API_KEY", "dev-key"),
    cors_origins=["*"],
    process_time_header=True,
    ip_policy="anonymize",
    super_properties={"service": "example-shop"},
    **json.loads(os.environ.get("SHOP_SONDE_OPTIONS", "{}")),
)


class Item(BaseModel):
    name: str
    price: float


items: dict[int, Item] = {
    1: Item(name="Teapot", price=18.5),
    2: Item(name="Cup", price=4.0),
}


@app.get("/items")
async def list_items() -> dict[int, Item]:
    return items


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> Item:
    if item_id not in items:
        raise HTTPException(404, "no such item")
    return items[item_id]


@app.post("/items", status_code=201)
async def create_item(item: Item, background: BackgroundTasks) -> dict[str, int]:
    item_id = max(items, default=0) + 1
    items[item_id] = item
    # Runs after the response: not part of the request's recorded duration.
    background.add_task(
        sonde.track,
        "Item Created",
        {"item_id": item_id, "price": item.price},
        user_id="shop-admin",
    )
    return {"id": item_id}


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int) -> None:
    items.pop(item_id, None)


@app.get("/slow")
async def slow() -> dict[str, str]:
    with sonde.track_timing("inventory.recount"):
        await asyncio.sleep(0.25)
    return {"status": "recounted"}


@app.get("/fail")
async def fail() -> None:
    raise RuntimeError("the payment provider is down")


if (BROWSER_PACKAGE / "pkg").is_dir():
    for part in ("js", "pkg"):
        app.mount(
            f"/sonde-browser/{part}",
            StaticFiles(directory=BROWSER_PACKAGE / part),
            name=f"sonde-browser-{part}",
        )
    app.mount(
        "/demo", StaticFiles(directory=BROWSER_DEMO, html=True), name="browser-demo"
    )
