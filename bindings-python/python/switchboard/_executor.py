"""Executors: what runs an operation, locally (the caller holds the credentials) or through the
engine (hosted mode). Typed connectors (``switchboard.connectors``) build on ``Connector``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, overload

from . import _call, _native
from ._types import ExecutionConfig, ExecutionResult
from .errors import ConfigurationError

__all__ = ["Connector", "ConnectorTools", "Entity", "Executor", "LocalExecutor", "TokenRefreshCallback"]

#: ``on_token_refresh(update)``: gets ``{"access_token", "refresh_token", "expires_at",
#: "extracted"}`` after an OAuth refresh, before the new token is used; may be ``async``.
TokenRefreshCallback = Callable[[dict[str, Any]], Any]

F = TypeVar("F", bound=Callable[..., Any])


class Executor:
    """Runs operations: ``execute``, ``paginate``, ``check``. Use ``LocalExecutor``,
    ``HostedExecutor`` or a typed connector."""

    _handle: _native.Executor
    _closed: bool = False

    def _live(self) -> _native.Executor:
        if self._closed:
            raise ConfigurationError(f"this {type(self).__name__} is closed", code="configuration")
        return self._handle

    @overload
    async def execute(self, config: ExecutionConfig, /) -> ExecutionResult: ...

    @overload
    async def execute(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> ExecutionResult: ...

    async def execute(
        self,
        entity: str | ExecutionConfig,
        action: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> ExecutionResult:
        """Runs one operation, e.g. ``await ex.execute("issues", "list", {"owner": "octo",
        "repo": "hello"})`` or ``await ex.execute(ExecutionConfig(...))``.

        Raises a ``SwitchboardError`` subclass on failure (bad params are rejected before any
        request is sent)."""
        if isinstance(entity, ExecutionConfig):
            c = entity
            entity, action, params = c.entity, c.action, c.params
            select_fields, exclude_fields, skip_truncation = c.select_fields, c.exclude_fields, c.skip_truncation
        if action is None:
            raise TypeError("execute() needs an action (or an ExecutionConfig)")
        handle = self._live()
        req = _call.request(entity, action, params, select_fields, exclude_fields, skip_truncation)
        return ExecutionResult._from_json(await _call.call(handle.execute, req))  # pyright: ignore[reportPrivateUsage]

    async def paginate(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
    ) -> AsyncIterator[ExecutionResult]:
        """Every page of an operation, following the connector's cursor:
        ``async for page in ex.paginate("issues", "list", {...})``. A failure raises once and
        ends the iteration."""
        req = _call.request(entity, action, params, select_fields, exclude_fields, skip_truncation)
        pages = _call.sync(self._live().paginate, req)
        while True:
            try:
                text = await _call.call(pages.__anext__)
            except StopAsyncIteration:
                return
            yield ExecutionResult._from_json(text)  # pyright: ignore[reportPrivateUsage]

    async def check(self) -> dict[str, Any]:
        """Runs the connector's health check: ``{"status": "healthy" | "unhealthy",
        "checked_entity", "checked_action", "error"?}``. Does not raise for an unhealthy
        connector."""
        return _call.as_dict(await _call.call(self._live().check))


def _local(
    slug: str,
    credentials: Mapping[str, Any],
    config: Mapping[str, Any] | None,
    on_token_refresh: TokenRefreshCallback | None,
    timeout: float | None,
) -> _native.Executor:
    settings = _call.settings(connector=slug, credentials=credentials, config=config, timeout=timeout)
    return _call.sync(_native.Executor.local, settings, _call.token_sink(on_token_refresh))


class LocalExecutor(Executor):
    """Runs any connector in this process with credentials the caller holds:
    ``LocalExecutor("github", {"personal_access_token": "..."})``.

    Args:
        slug: the connector (slug, display name or definition id), e.g. ``"github"``.
        credentials: the connector's credential fields.
        config: optional config, e.g. ``{"base_url": "https://github.example.com/api"}``.
        on_token_refresh: called with the new tokens after an OAuth refresh (sync or async).
        timeout: seconds allowed for one upstream exchange (default 30).
    """

    def __init__(
        self,
        slug: str,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        on_token_refresh: TokenRefreshCallback | None = None,
        timeout: float | None = None,
    ) -> None:
        self._handle = _local(slug, credentials, config, on_token_refresh, timeout)

    @property
    def slug(self) -> str:
        """The connector's slug."""
        return self._handle.slug or ""

    def __repr__(self) -> str:
        return f"LocalExecutor({self.slug!r})"


class _Describe:
    """``describe``: on an instance, ``gh.describe()`` returns the text description; on the
    class, ``@GithubConnector.describe`` decorates a tool function with it."""

    @overload
    def __get__(self, obj: None, owner: type[ConnectorTools]) -> Callable[[F], F]: ...

    @overload
    def __get__(self, obj: ConnectorTools, owner: type[ConnectorTools]) -> Callable[[], str]: ...

    def __get__(self, obj: ConnectorTools | None, owner: type[ConnectorTools]) -> Callable[..., Any]:
        slug = owner.slug

        def describe() -> str:
            return _call.sync(_native.describe, slug)

        if obj is not None:
            return describe

        def decorate(fn: F) -> F:
            doc = (fn.__doc__ or "").strip()
            fn.__doc__ = f"{doc}\n\n{describe()}" if doc else describe()
            return fn

        return decorate


class ConnectorTools:
    """What a typed connector offers agents: ``describe``, ``tool_schema``,
    ``operation_tools``. Every method works on the class as well as on an instance."""

    #: The connector's slug.
    slug: ClassVar[str] = ""

    describe = _Describe()
    """``gh.describe()``: a text description of every entity, action and param, for a system
    prompt; ``@GithubConnector.describe`` sets a tool function's docstring to it."""

    @classmethod
    def tool_schema(cls, format: str = "openai") -> dict[str, Any]:
        """One function-calling tool for the whole connector (``<slug>_execute``) in
        ``format`` (``"openai"``, ``"anthropic"`` or ``"mcp"``): ``entity`` and ``action`` as
        enums, ``params`` an object, every operation's params listed in the description."""
        return _call.as_dict(_call.sync(_native.tool_schema, cls.slug, format))

    @classmethod
    def operation_tools(cls, format: str = "openai") -> list[dict[str, Any]]:
        """One tool per operation (``<slug>_<entity>_<action>``), each taking exactly that
        operation's params, in ``format`` (``"openai"``, ``"anthropic"`` or ``"mcp"``)."""
        tools: list[dict[str, Any]] = json.loads(_call.sync(_native.operation_tools, cls.slug, format))
        return tools

    @classmethod
    def find_operation_tool(cls, name: str) -> tuple[str, str] | None:
        """The ``(entity, action)`` an operation tool name stands for, or ``None``."""
        return _call.sync(_native.find_operation_tool, cls.slug, name)


class Connector(ConnectorTools, Executor):
    """Base of the typed connectors generated from the specs (``GithubConnector``, ...).

    Local mode: ``GithubConnector(credentials={...}, config={...}, on_token_refresh=...)``.
    Hosted mode: ``connect("github", workspace_name="acme")`` returns the same class running
    through the engine.

    Args:
        credentials: the connector's credential fields.
        config: optional config, e.g. ``{"base_url": "..."}``.
        on_token_refresh: called with the new tokens after an OAuth refresh (sync or async).
        timeout: seconds allowed for one upstream exchange (default 30).
    """

    def __init__(
        self,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        on_token_refresh: TokenRefreshCallback | None = None,
        timeout: float | None = None,
    ) -> None:
        self._handle = _local(self.slug, credentials, config, on_token_refresh, timeout)

    @classmethod
    def _with_handle(cls, handle: _native.Executor) -> Any:
        obj = cls.__new__(cls)
        obj._handle = handle
        return obj

    def close(self) -> None:
        """Releases the handle; later calls raise ``ConfigurationError``."""
        self._closed = True

    def __repr__(self) -> str:
        mode = "hosted" if self._handle.is_hosted else "local"
        return f"{type(self).__name__}({mode})"


class Entity:
    """Base of a typed connector's entity attribute (``gh.issues``): one method per action."""

    __slots__ = ("_connector",)
    _entity: ClassVar[str] = ""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    async def _run(self, action: str, params: dict[str, Any]) -> ExecutionResult:
        return await self._connector.execute(
            self._entity, action, {k: v for k, v in params.items() if v is not None}
        )
