"""Executors: what runs an operation, locally (the caller holds the credentials) or through the
engine (hosted mode). Typed connectors (``switchboard.connectors``) build on ``Connector``."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from . import _call, _native
from ._types import ExecutionConfig, ExecutionResult, Record, StoreStatus, SyncStarted
from .errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .hosted import ClientArgs

__all__ = ["Connector", "ConnectorTools", "Entity", "Executor", "LocalExecutor", "TokenRefreshCallback"]

#: ``on_token_refresh(update)``: gets ``{"access_token", "refresh_token", "expires_at",
#: "extracted"}`` after an OAuth refresh, before the new token is used; may be ``async``.
TokenRefreshCallback = Callable[[dict[str, Any]], Any]

F = TypeVar("F", bound=Callable[..., Any])

#: The action answered from the engine's context store; its ``data`` is a ``SearchPage``.
SEARCH_ACTION = "context_store_search"


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
    async def execute(self, config: ExecutionConfig, /) -> ExecutionResult[Any]: ...

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
        intent: str | None = None,
    ) -> ExecutionResult[Any]: ...

    async def execute(
        self,
        entity: str | ExecutionConfig,
        action: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
        intent: str | None = None,
    ) -> ExecutionResult[Any]:
        """Runs one operation, e.g. ``await ex.execute("issues", "list", {"owner": "octo",
        "repo": "hello"})`` or ``await ex.execute(ExecutionConfig(...))``.

        Raises a ``SwitchboardError`` subclass on failure (bad params are refused before any
        request reaches the provider; in hosted mode the engine refuses them);
        ``TypeError`` when an ``ExecutionConfig`` comes with an action or params. ``intent``
        (why the agent makes the call, at most 512 characters) goes to the engine in hosted
        mode."""
        if isinstance(entity, ExecutionConfig):
            if action is not None or params is not None:
                raise TypeError("execute() takes an ExecutionConfig alone, or (entity, action, params)")
            c = entity
            entity, action, params = c.entity, c.action, c.params
            select_fields, exclude_fields, skip_truncation = c.select_fields, c.exclude_fields, c.skip_truncation
            intent = c.intent
        if action is None:
            raise TypeError("execute() needs an action (or an ExecutionConfig)")
        handle = self._live()
        args = (entity, action, params, select_fields, exclude_fields, skip_truncation, intent)
        outcome = await _call.call(handle.execute, *args)
        search = action == SEARCH_ACTION
        return ExecutionResult._from_native(outcome, self._record(entity, action), search)  # pyright: ignore[reportPrivateUsage]

    def _record(self, entity: str, action: str) -> type[Record]:
        """The record class of an operation's results (typed connectors override it)."""
        return Record

    @classmethod
    def _with_handle(cls, handle: _native.Executor) -> Self:
        """An executor of this class around a native handle made elsewhere (a workspace's)."""
        obj = cls.__new__(cls)
        obj._handle = handle
        return obj

    async def paginate(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        select_fields: Sequence[str] | None = None,
        exclude_fields: Sequence[str] | None = None,
        skip_truncation: bool = False,
        intent: str | None = None,
    ) -> AsyncIterator[ExecutionResult[Any]]:
        """Every page of an operation, following the connector's cursor:
        ``async for page in ex.paginate("issues", "list", {...})``. A failure raises once and
        ends the iteration."""
        args = (entity, action, params, select_fields, exclude_fields, skip_truncation, intent)
        pages = _call.sync(self._live().paginate, *args)
        while True:
            try:
                outcome = await _call.call(pages.__anext__)
            except StopAsyncIteration:
                return
            yield ExecutionResult._from_native(outcome, self._record(entity, action), action == SEARCH_ACTION)  # pyright: ignore[reportPrivateUsage]

    async def check(self) -> ExecutionResult[Any]:
        """Runs the connector's health check (a lightweight read, or verifying the credential
        when the connector has none): ``success`` says whether it is healthy, ``data`` holds
        ``{"status", "checked_entity", "checked_action", "error"?}``, ``error`` the message.
        Does not raise for an unhealthy connector."""
        return ExecutionResult._from_native(await _call.call(self._live().check))  # pyright: ignore[reportPrivateUsage]

    async def context_store_sync(
        self,
        entities: Sequence[str],
        every_seconds: int | None = None,
        *,
        unschedule: bool = False,
        mode: str | None = None,
        full_every_seconds: int | None = None,
    ) -> SyncStarted:
        """Starts syncs of ``entities`` into the connector's context store on the engine, in
        the background (an interrupted or failed sync resumes from its last committed page):
        ``await ex.context_store_sync(["customers"])``. With ``every_seconds`` (60 to 31,622,400)
        the engine also runs a sync of each that often; ``unschedule=True`` removes their schedules.
        ``mode`` is ``"auto"`` (the default: incremental where the entity allows it and its last
        full sync is younger than ``full_every_seconds``, default a day), ``"full"`` (records
        gone at the provider are deleted) or ``"incremental"``. Returns, per entity, ``status``
        (``started``, ``resumed`` or ``already_running``) and the sync's ``generation``; poll
        ``context_store_status()`` for progress, then search with ``context_store_search``.

        Hosted mode only: a local connector raises ``ConfigurationError`` (``details["reason"]``
        ``"hosted_only"``) before any request."""
        if isinstance(entities, str):
            raise TypeError("entities is a list of entity names, e.g. ['customers']")
        handle = self._live()
        options = {
            "every_seconds": every_seconds,
            "unschedule": unschedule,
            "mode": mode,
            "full_every_seconds": full_every_seconds,
        }
        text = await _call.call(handle.context_store_sync, list(entities), json.dumps(options))
        started: SyncStarted = json.loads(text)
        return started

    async def context_store_status(self) -> StoreStatus:
        """The sync state of each entity of the connector's context store: ``status``
        (``running``, ``succeeded``, ``failed``, ``interrupted``), ``pages``, ``records_synced``,
        ``record_count``, ``deleted``, ``last_error``, times, and the schedule when there is
        one. Hosted mode only (a local connector raises ``ConfigurationError``)."""
        handle = self._live()
        status: StoreStatus = json.loads(await _call.call(handle.context_store_status))
        return status

    def close(self) -> Awaitable[None]:
        """Releases the handle; later calls raise ``ConfigurationError``. Takes effect at once;
        awaiting it (``await connector.close()``, as the reference documents) is optional."""
        self._closed = True
        return _Done()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class _Done:
    """An awaitable that is already done."""

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


class LocalExecutor(Executor):
    """Runs any connector in this process with credentials the caller holds:
    ``LocalExecutor("github", {"personal_access_token": "..."})``.

    Args:
        slug: the connector (slug, display name or definition id), e.g. ``"github"``.
        credentials: the connector's credential fields.
        config: optional config, e.g. ``{"base_url": "https://github.example.com/api"}``.
        on_token_refresh: called with the new tokens after an OAuth refresh (sync or async).
        timeout: seconds allowed for one upstream exchange (default 30).
        max_concurrent_requests: at most this many of the connector's requests in progress at
            once; more wait for a turn within their timeout (default: the process's limit of
            100 per API, ``SWITCHBOARD_EXCHANGES_PER_ORIGIN``, which applies as well).
    """

    def __init__(
        self,
        slug: str,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        on_token_refresh: TokenRefreshCallback | None = None,
        timeout: float | None = None,
        max_concurrent_requests: int | None = None,
    ) -> None:
        settings = _call.settings(
            connector=slug,
            credentials=credentials,
            config=config,
            timeout=timeout,
            max_concurrent_requests=max_concurrent_requests,
        )
        self._handle = _call.sync(_native.Executor.local, settings, _call.token_sink(on_token_refresh))

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
    #: The connector's display name and spec version, as the reference's connectors show them.
    connector_name: ClassVar[str] = ""
    connector_version: ClassVar[str] = ""

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

    Local mode, with the connector's credentials: ``GithubConnector(credentials={...},
    config={...}, on_token_refresh=...)``. Hosted mode, without them: ``GongConnector(
    external_user_id="acme", airbyte_client_id=..., airbyte_client_secret=...)`` runs through
    the engine on the workspace's one connector of this type (or ``connector_id``); client
    settings fall back to the ``SWITCHBOARD_*`` / ``AIRBYTE_*`` environment (see ``Workspace``).

    Args:
        credentials: the connector's credential fields (local mode).
        config: optional config, e.g. ``{"base_url": "..."}`` (local mode).
        on_token_refresh: called with the new tokens after an OAuth refresh (sync or async).
        max_concurrent_requests: at most this many of the connector's requests in progress at
            once, as for ``LocalExecutor`` (local mode).
        connector_id, workspace_name, external_user_id: which stored connector (hosted mode).
        client: ``timeout`` (seconds allowed for one upstream exchange, or one engine call when
            hosted), and the engine client's arguments as for ``Workspace`` (hosted mode).
    """

    #: (entity, action) -> record class name in the connector's records module.
    _records: ClassVar[dict[tuple[str, str], str]] = {}
    _records_module: ClassVar[str] = ""

    def __init__(
        self,
        credentials: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        on_token_refresh: TokenRefreshCallback | None = None,
        max_concurrent_requests: int | None = None,
        connector_id: str | None = None,
        workspace_name: str | None = None,
        external_user_id: str | None = None,
        **client: Unpack[ClientArgs],
    ) -> None:
        settings: dict[str, Any] = dict(client)
        provider = settings.pop("token_provider", None)
        args = _call.settings(
            connector=self.slug,
            credentials=credentials,
            config=config,
            max_concurrent_requests=max_concurrent_requests,
            connector_id=connector_id,
            workspace_name=workspace_name,
            external_user_id=external_user_id,
            **settings,
        )
        self._handle = _call.sync(_native.Executor.open, args, _call.token_sink(on_token_refresh), provider)

    def _record(self, entity: str, action: str) -> type[Record]:
        key = (type(self), entity, action)
        record = _record_classes.get(key)
        if record is None:  # the records module is imported on first use, then remembered
            name = self._records.get((entity, action))
            record = Record if name is None else getattr(importlib.import_module(self._records_module), name)
            _record_classes[key] = record
        return record

    def __repr__(self) -> str:
        mode = "hosted" if self._handle.is_hosted else "local"
        return f"{type(self).__name__}({mode})"


#: The record class of each typed connector class's operations, once looked up.
_record_classes: dict[tuple[type[Connector], str, str], type[Record]] = {}


class Entity:
    """Base of a typed connector's entity attribute (``gh.issues``): one method per action."""

    __slots__ = ("_connector",)
    _entity: ClassVar[str] = ""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    async def _run(self, action: str, params: dict[str, Any]) -> Any:
        return await self._connector.execute(
            self._entity, action, {k: v for k, v in params.items() if v is not None}
        )
