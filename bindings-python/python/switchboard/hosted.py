"""Hosted mode: the engine holds the credentials; the SDK holds only client credentials.

The native client fetches the application token itself, keeps it until shortly before it
expires, fetches a new one once however many calls wait on it, and retries a call once after a
401. Unset arguments fall back to ``SWITCHBOARD_API_URL``, ``SWITCHBOARD_CLIENT_ID``,
``SWITCHBOARD_CLIENT_SECRET`` and ``SWITCHBOARD_ORGANIZATION_ID``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from . import _call, _native
from ._executor import Connector, Executor
from ._types import ConnectorInfo
from .errors import ConfigurationError

__all__ = ["ConnectorInfo", "HostedExecutor", "Workspace", "connect_as"]

C = TypeVar("C", bound=Connector)


def _client(
    base_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    organization_id: str | None,
    timeout: float | None,
) -> _native.HostedClient:
    return _call.sync(_native.HostedClient, base_url, client_id, client_secret, organization_id, timeout)


def _workspace_name(workspace_name: str | None, external_user_id: str | None) -> str | None:
    if workspace_name is not None and external_user_id is not None and workspace_name != external_user_id:
        raise ConfigurationError(
            "pass workspace_name or external_user_id (they name the same thing), not two different values",
            code="configuration",
        )
    return workspace_name if workspace_name is not None else external_user_id


class Workspace:
    """One end customer's workspace in the engine, created on first use.

    ``async with Workspace(client_id=..., client_secret=..., workspace_name="acme") as ws:``
    then ``create_connector``, ``list_connectors``, ``get_connector``, ``delete_connector``.

    Args:
        client_id: the application's client id (or ``SWITCHBOARD_CLIENT_ID``).
        client_secret: the application's client secret (or ``SWITCHBOARD_CLIENT_SECRET``).
        workspace_name: the workspace (``external_user_id`` is accepted as well).
        base_url: the engine (or ``SWITCHBOARD_API_URL``; default ``http://127.0.0.1:8080``).
        organization_id: sent as ``X-Organization-Id`` (or ``SWITCHBOARD_ORGANIZATION_ID``).
        timeout: seconds allowed for one call to the engine (default 120).
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        workspace_name: str | None = None,
        external_user_id: str | None = None,
        base_url: str | None = None,
        organization_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        name = _workspace_name(workspace_name, external_user_id)
        if name is None:
            raise ConfigurationError("workspace_name is required (or external_user_id)", code="configuration")
        self._client = _client(base_url, client_id, client_secret, organization_id, timeout)
        self._ws = _call.sync(_native.Workspace, self._client, name)

    @property
    def name(self) -> str:
        """The workspace's name."""
        return self._ws.name

    def token_fetches(self) -> int:
        """How many application tokens this workspace's client fetched."""
        return self._ws.token_fetches()

    async def create_connector(
        self,
        *,
        connector_type: str,
        credentials: Mapping[str, Any],
        name: str | None = None,
        replication_config: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> str:
        """Stores a connector with its credentials in the engine; returns its id.

        Args:
            connector_type: slug, display name or definition id, e.g. ``"github"``.
            credentials: the connector's credential fields (stored encrypted by the engine).
            name: a name for the connector.
            replication_config: e.g. ``{"repositories": ["octo/hello"]}``.
            config: e.g. ``{"base_url": "..."}``.
        """
        new: dict[str, Any] = {"connector_type": connector_type, "credentials": dict(credentials)}
        if name is not None:
            new["name"] = name
        if replication_config is not None:
            new["replication_config"] = dict(replication_config)
        if config is not None:
            new["config"] = dict(config)
        info = _call.as_dict(await _call.call(self._ws.create_connector, _call.dumps(new, "connector")))
        return str(info["id"])

    async def list_connectors(self) -> list[ConnectorInfo]:
        """The workspace's connectors."""
        items: list[dict[str, Any]] = json.loads(await _call.call(self._ws.list_connectors))
        return [ConnectorInfo._from_dict(i) for i in items]  # pyright: ignore[reportPrivateUsage]

    async def find_connector(self, *, connector_id: str | None = None, name: str | None = None) -> ConnectorInfo:
        """The one connector matching ``connector_id`` or ``name`` (as in ``get_connector``),
        without making an executor."""
        d = _call.as_dict(await _call.call(self._ws.find_connector, connector_id, name))
        return ConnectorInfo._from_dict(d)  # pyright: ignore[reportPrivateUsage]

    async def get_connector(self, *, connector_id: str | None = None, name: str | None = None) -> HostedExecutor:
        """An executor for one connector, by ``connector_id`` or by ``name`` (a connector type
        such as ``"github"``, else a connector name). No match raises
        ``ConnectorNotFoundError``, several ``ConnectorAmbiguityError``."""
        handle = await _call.call(self._ws.get_connector, connector_id, name)
        return HostedExecutor._with_handle(handle)  # pyright: ignore[reportPrivateUsage]

    async def delete_connector(self, connector_id: str) -> None:
        """Deletes a connector and its stored credentials."""
        await _call.call(self._ws.delete_connector, connector_id)

    async def close(self) -> None:
        """Releases the workspace (nothing is held open between calls)."""

    async def __aenter__(self) -> Workspace:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Workspace({self.name!r})"


class HostedExecutor(Executor):
    """Runs operations on one connector stored in the engine.

    ``HostedExecutor(client_id=..., client_secret=..., connector_id=...)``, or by workspace and
    connector definition: ``HostedExecutor(..., workspace_name="acme",
    connector_definition_id="...")`` (a slug such as ``"github"`` works too; looked up once, on
    first use). Other arguments as in ``Workspace``.
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        connector_id: str | None = None,
        workspace_name: str | None = None,
        external_user_id: str | None = None,
        connector_definition_id: str | None = None,
        base_url: str | None = None,
        organization_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        client = _client(base_url, client_id, client_secret, organization_id, timeout)
        self._handle = _resolve(
            client, connector_id, _workspace_name(workspace_name, external_user_id), connector_definition_id
        )

    @classmethod
    def _with_handle(cls, handle: _native.HostedExecutor) -> HostedExecutor:
        obj = cls.__new__(cls)
        obj._handle = handle
        return obj

    def _native(self) -> _native.HostedExecutor:
        handle = self._handle
        assert isinstance(handle, _native.HostedExecutor)
        return handle

    def token_fetches(self) -> int:
        """How many application tokens this executor's client fetched."""
        return self._native().token_fetches()

    async def connector_info(self) -> ConnectorInfo:
        """The stored connector this executor runs (looked up once)."""
        d = _call.as_dict(await _call.call(self._native().connector))
        return ConnectorInfo._from_dict(d)  # pyright: ignore[reportPrivateUsage]

    async def close(self) -> None:
        """Releases the executor; later calls raise ``ConfigurationError``."""
        self._closed = True

    async def __aenter__(self) -> HostedExecutor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "HostedExecutor()"


def _resolve(
    client: _native.HostedClient,
    connector_id: str | None,
    workspace_name: str | None,
    definition: str | None,
) -> _native.HostedExecutor:
    if connector_id is not None:
        return _native.HostedExecutor.by_id(client, connector_id)
    if workspace_name is None or definition is None:
        raise ConfigurationError(
            "pass connector_id, or workspace_name (or external_user_id) with a connector definition",
            code="configuration",
        )
    return _call.sync(_native.HostedExecutor.by_definition, client, workspace_name, definition)


def connect_as(
    cls: type[C],
    *,
    workspace_name: str | None = None,
    external_user_id: str | None = None,
    connector_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str | None = None,
    organization_id: str | None = None,
    timeout: float | None = None,
) -> C:
    """The typed connector ``cls`` running through the engine on the one connector of its type
    in the workspace (or ``connector_id``). The lookup runs on first use: none raises
    ``ConnectorNotFoundError``, two or more ``ConnectorAmbiguityError``."""
    client = _client(base_url, client_id, client_secret, organization_id, timeout)
    handle = _resolve(client, connector_id, _workspace_name(workspace_name, external_user_id), cls.slug)
    connector: C = cls._with_handle(handle)  # pyright: ignore[reportPrivateUsage]
    return connector
