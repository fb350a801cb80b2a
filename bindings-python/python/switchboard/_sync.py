"""The machinery of the synchronous facade, and the base of the blocking classes. A blocking
call runs its coroutine of the async API on an event loop of the calling thread's own (made on
the thread's first call, closed when the thread ends), so the call takes no more thread hops
than an awaited one; called where a loop is already running (inside a coroutine, a notebook
cell), it runs on one background loop thread per process instead and waits. The blocking
classes themselves are rendered from the async ones by ``generate.py`` (``_blocking.py``)."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ._executor import Connector

if TYPE_CHECKING:
    import asyncio  # imported on first use below: it costs a third of the package's import time

    from typing_extensions import Self

T = TypeVar("T")
A = TypeVar("A")

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


class _OwnLoop:
    """A thread's own loop, closed when its thread ends (the thread-local holding this goes)."""

    __slots__ = ("loop", "pid")

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():
            self.loop.close()
        else:
            # A fork child: the loop's epoll instance is shared with the parent, and closing the
            # loop would take the parent's registrations out of it. Kept, never closed.
            _inherited.append(self.loop)


_own = threading.local()
_inherited: list[Any] = []


def _own_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's own loop (again in a fork child, where it would be the parent's)."""
    held: _OwnLoop | None = getattr(_own, "held", None)
    if held is None or held.pid != os.getpid():
        held = _own.held = _OwnLoop()
    return held.loop


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by a thread that is gone


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine of the async API to its result: on the calling thread's own loop, or,
    where a loop is running already, on the background loop (waiting for it)."""
    import asyncio

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is None:
        own = _own_loop()
        task = own.create_task(coro)
        try:
            return own.run_until_complete(task)
        except BaseException:
            task.cancel()  # interrupted (Ctrl-C): the call is dropped when the loop runs next
            raise
    loop = _background_loop()
    if running is loop:
        coro.close()
        raise RuntimeError("switchboard.sync called from its own event loop; use the async API there")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def iterate(items: AsyncIterator[T]) -> Iterator[T]:
    """An async iterator of the async API (``paginate``), item by item on the background loop;
    leaving the loop early closes it."""

    async def next_item() -> tuple[T] | None:
        try:
            return (await items.__anext__(),)
        except StopAsyncIteration:
            return None

    try:
        while (item := run(next_item())) is not None:
            yield item[0]
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            run(aclose())


class Sync(Generic[A]):
    """Base of the blocking classes: each wraps the async object ``_async`` and runs its
    coroutines on the background loop."""

    _async: A

    @classmethod
    def _wrap(cls, obj: A) -> Self:
        """The blocking twin of an async object made elsewhere (a workspace's executor)."""
        sync = cls.__new__(cls)
        sync._async = obj
        return sync

    def __repr__(self) -> str:
        return f"sync.{self._async!r}"


class SyncEntity:
    """Base of a sync typed connector's entity attribute."""

    __slots__ = ("_connector",)
    _entity: ClassVar[str] = ""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    def _run(self, action: str, params: dict[str, Any]) -> Any:
        return run(self._connector.execute(self._entity, action, {k: v for k, v in params.items() if v is not None}))
