# Stubs for the native module (checked with `python -m mypy.stubtest sonde._native`).
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, final

from typing_extensions import disjoint_base

__all__ = [
    "CORE_VERSION",
    "AlertEngine",
    "Client",
    "Exchange",
    "HttpApi",
    "RequestRecorder",
    "__version__",
    "merge_stats",
]

__version__: str
CORE_VERSION: str

_Event = dict[str, Any]

@disjoint_base
class Client:
    def __new__(cls, **options: Any) -> Client: ...
    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def screen(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def identify(
        self,
        user_id: str,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def group(
        self,
        group_id: str,
        traits: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def alias(
        self,
        previous_id: str,
        user_id: str,
        *,
        message_id: str | None = None,
        timestamp: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | None: ...
    def track_api_request(
        self,
        method: str,
        route: str,
        status_code: int,
        duration_ms: float,
        *,
        path: str | None = None,
        client_address: str | None = None,
        user_agent: str | None = None,
        request_body_size: int | None = None,
        response_body_size: int | None = None,
        error_type: str | None = None,
        ttfb_ms: float | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
    ) -> str | None: ...
    def track_performance(
        self,
        operation: str,
        duration_ms: float,
        *,
        success: bool = True,
        error_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
    ) -> str | None: ...
    def track_interaction(
        self,
        action: str,
        target: str,
        *,
        path: str | None = None,
        value: Any = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
    ) -> str | None: ...
    def track_error(
        self,
        error_type: str,
        message: str,
        *,
        stack: str | None = None,
        route: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
    ) -> str | None: ...
    def ingest(
        self,
        body: bytes | str | Mapping[str, Any],
        *,
        default_type: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...
    def register(self, properties: Mapping[str, Any]) -> None: ...
    def unregister(self, key: str) -> None: ...
    @property
    def super_properties(self) -> dict[str, Any]: ...
    @property
    def anonymous_id(self) -> str: ...
    def flush(self, timeout: float = 5.0) -> None: ...
    def shutdown(self, timeout: float = 5.0) -> None: ...
    @property
    def is_shut_down(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def metrics_text(self, openmetrics: bool = False) -> str: ...
    def system_metrics(self) -> dict[str, Any]: ...
    def evaluate_alerts(self) -> list[dict[str, Any]]: ...
    def alerts(self) -> list[dict[str, Any]]: ...
    def alert_history(self, limit: int = 100) -> list[dict[str, Any]]: ...
    def query_events(self, **filters: Any) -> dict[str, Any]: ...
    def get_event(self, message_id: str) -> _Event | None: ...
    def update_event(
        self, message_id: str, properties: Mapping[str, Any], *, replace: bool = False
    ) -> _Event | None: ...
    def delete_event(self, message_id: str) -> bool: ...
    def delete_events(self, **filters: Any) -> int:
        """At least one filter, none of them None; ``all=True`` alone deletes every event."""
    def purge_older_than(self, before: Any) -> int: ...
    def aggregate(
        self, *, from_: Any = None, to: Any = None, bucket: str = "hour"
    ) -> dict[str, Any]: ...
    @property
    def store_path(self) -> str | None: ...
    def reconfigure(self, timeout: float = 5.0, **options: Any) -> None: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def limits(self) -> dict[str, int]: ...
    def record_request(
        self, method: str, route: str, status_code: int, duration_ms: float
    ) -> None: ...
    def _before_fork(self) -> None: ...
    def _after_fork_child(self) -> None: ...

@final
class AlertEngine:
    def __new__(cls, rules: list[Mapping[str, Any]], history_limit: int = 100) -> AlertEngine: ...
    def evaluate(self, t_ms: int, metrics: Mapping[str, float]) -> list[dict[str, Any]]: ...
    def active(self) -> list[dict[str, Any]]: ...

def merge_stats(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]: ...
@final
class RequestRecorder:
    def __new__(cls, **options: Any) -> RequestRecorder: ...
    def excludes(self, method: str, path: str) -> bool: ...
    @property
    def process_time_header(self) -> bool: ...
    def record(
        self,
        client: Client,
        method: str,
        path: str,
        route: str | None,
        status_code: int | None,
        duration_ms: float,
        ttfb_ms: float | None = None,
        peer_address: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
        request_body_bytes: int | None = None,
        response_body_bytes: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        error_stack: str | None = None,
        aborted: bool = False,
        user_id: str | None = None,
    ) -> None: ...
    def begin(
        self, scope: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> Exchange | None: ...

@final
class Exchange:
    @property
    def may_have_body(self) -> bool: ...
    def __call__(self, message: dict[str, Any]) -> Awaitable[None]: ...
    def received(self, message: dict[str, Any]) -> None: ...
    def finish(
        self,
        client: Client,
        error_type: str | None = None,
        error_message: str | None = None,
        error_stack: str | None = None,
        user_id: str | None = None,
    ) -> None: ...

@final
class HttpApi:
    def __new__(cls, client: Client, **options: Any) -> HttpApi: ...
    def body_limit(self) -> int: ...
    def runs_inline(self, method: str, path: str) -> bool: ...
    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes]: ...
