"""The machinery of the synchronous facade: one background event loop thread per process that
runs the async API's coroutines, and sync wrappers of the executors."""

from __future__ import annotations

import os
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from ._executor import Connector, ConnectorTools, Executor
from ._types import ExecutionConfig, ExecutionResult

if TYPE_CHECKING:
    import asyncio  # imported on first use below: it costs a third of the package's import time

T = TypeVar("T")
E = TypeVar("E", bound=Executor)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The loop thread of this process, started on first use (and again in a fork child,
    where the parent's thread does not exist)."""
    global _loop, _loop_pid
    import asyncio

    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="switchboard-sync", daemon=True)
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by a thread that is gone


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine of the async API on the background loop and waits for its result."""
    import asyncio

    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("switchboard.sync called from its own event loop; use the async API there")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


class SyncExecutor(Generic[E]):
    """Synchronous ``execute``, ``paginate`` and ``check`` over an async executor."""

    _async: E

    @overload
    def execute(self, config: ExecutionConfig, /) -> ExecutionResult[Any]: ...

    @overload
    def execute(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> ExecutionResult[Any]: ...

    def execute(
        self,
        entity: str | ExecutionConfig,
        action: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> ExecutionResult[Any]:
        """Runs one operation (see the async ``execute``)."""
        if isinstance(entity, ExecutionConfig):
            return run(self._async.execute(entity))
        if action is None:
            raise TypeError("execute() needs an action (or an ExecutionConfig)")
        return run(
            self._async.execute(
                entity,
                action,
                params,
                select_fields=select_fields,
                exclude_fields=exclude_fields,
                skip_truncation=skip_truncation,
            )
        )

    def paginate(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> Iterator[ExecutionResult[Any]]:
        """Every page of an operation (see the async ``paginate``)."""
        pages = self._async.paginate(
            entity,
            action,
            params,
            select_fields=select_fields,
            exclude_fields=exclude_fields,
            skip_truncation=skip_truncation,
        )

        async def next_page() -> ExecutionResult[Any] | None:
            try:
                return await pages.__anext__()
            except StopAsyncIteration:
                return None

        try:
            while (page := run(next_page())) is not None:
                yield page
        finally:
            aclose = getattr(pages, "aclose", None)
            if aclose is not None:
                run(aclose())

    def check(self) -> ExecutionResult[Any]:
        """Runs the connector's health check (see the async ``check``)."""
        return run(self._async.check())


class SyncEntity:
    """Base of a sync typed connector's entity attribute."""

    __slots__ = ("_connector",)
    _entity: ClassVar[str] = ""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    def _run(self, action: str, params: dict[str, Any]) -> Any:
        return run(self._connector.execute(self._entity, action, {k: v for k, v in params.items() if v is not None}))


class SyncConnector(ConnectorTools, SyncExecutor[Connector]):
    """Base of the sync typed connectors (``switchboard.sync.GithubConnector``): the async
    connector's operations, run on the background loop."""

    @classmethod
    def _wrap(cls, connector: Connector) -> Any:
        obj = cls.__new__(cls)
        obj._async = connector
        return obj

    def close(self) -> None:
        """Releases the handle; later calls raise ``ConfigurationError``."""
        self._async.close()

    @property
    def connector_name(self) -> str:
        """The connector's display name."""
        return self._async.connector_name

    @property
    def connector_version(self) -> str:
        """The connector spec's version."""
        return self._async.connector_version

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"
