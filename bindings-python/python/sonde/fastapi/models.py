"""Request and response models of the analytics router, for ``/openapi.json``.

Ingestion bodies are validated by the core (every violation with its stable code), not by
pydantic: these models document the wire format; the routes read the raw bytes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MessageType = Literal["track", "page", "screen", "identify", "group", "alias"]


class EventIn(BaseModel):
    """One Segment-shaped message (camelCase on the wire; unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    type: MessageType | None = Field(None, description="Defaults to the endpoint's type.")
    event: str | None = Field(None, description="Event name (track).")
    name: str | None = Field(None, description="Page or screen name.")
    userId: str | None = None
    anonymousId: str | None = None
    groupId: str | None = None
    previousId: str | None = None
    messageId: str | None = Field(None, description="Idempotency key; generated if absent.")
    timestamp: str | None = Field(None, description="RFC 3339; the event time.")
    sentAt: str | None = Field(None, description="RFC 3339; client clock at send time.")
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class BatchIn(BaseModel):
    """A batch of messages (Segment's ``/v1/batch`` body)."""

    model_config = ConfigDict(extra="allow")

    batch: list[EventIn]
    sentAt: str | None = None
    context: dict[str, Any] | None = None


class Violation(BaseModel):
    """One broken rule: where (JSON pointer), what (stable code), and why."""

    path: str
    code: str
    message: str


class IndexedViolation(Violation):
    index: int | None = Field(None, description="Item of the batch; null for the whole body.")


class Problem(BaseModel):
    """An error response: a stable code and every violation."""

    detail: str
    code: str
    violations: list[IndexedViolation] = []


class ItemResult(BaseModel):
    index: int
    status: Literal["accepted", "sampled", "filtered", "queue_full", "rejected"]
    message_id: str | None
    errors: list[Violation]
    warnings: list[Violation]


class IngestResult(BaseModel):
    """Per-item results: valid items are kept, rejected ones say why."""

    success: bool = Field(description="True when every item was accepted.")
    accepted: int
    rejected: int
    items: list[ItemResult]


class Accepted(BaseModel):
    status: Literal["accepted", "sampled", "filtered", "queue_full"]
    message_id: str | None
    warnings: list[Violation] = []


class EventPage(BaseModel):
    events: list[dict[str, Any]]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
    total: int | None = Field(None, description="Every match, when `with_total=true`.")


class EventPatch(BaseModel):
    properties: dict[str, Any]
    replace: bool = Field(False, description="Replace the properties instead of merging.")


class Deleted(BaseModel):
    deleted: bool
    message_id: str


class Health(BaseModel):
    """The status alone without the API key; the details with it (or with open reads)."""

    status: Literal["ok", "degraded", "shut_down"]
    version: str | None = None
    uptime_seconds: float | None = None
    queued: int | None = None
    delivered: int | None = None
    dropped: int | None = None
    store: dict[str, Any] | None = None
    alerts_firing: int | None = None


class Instance(BaseModel):
    """One process (worker or host) sharing the store, as of its latest published statistics."""

    id: str
    host: str
    pid: int
    started_at: str
    last_seen: str
    current: bool = Field(description="Whether this is the process that answered.")
    counters: dict[str, Any]
    requests: int


class Statistics(BaseModel):
    live: dict[str, Any] = Field(
        description="Statistics since start, merged over every instance sharing the store."
    )
    instances: list[Instance] = Field(
        default_factory=list, description="The instances merged (empty without a store)."
    )
    stored: dict[str, Any] | None = Field(None, description="Aggregates over the store.")


class Performance(BaseModel):
    routes: dict[str, Any]
    operations: dict[str, Any]
    system: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    instances: list[Instance] = Field(default_factory=list)


class Alerts(BaseModel):
    active: list[dict[str, Any]] = Field(description="Alerts firing now.")
    history: list[dict[str, Any]] = Field(description="Latest transitions, newest first.")


class ConfigView(BaseModel):
    options: dict[str, Any] = Field(description="Core options in force.")
    store: str | None
    limits: dict[str, int]


class Flushed(BaseModel):
    status: Literal["flushed"]
