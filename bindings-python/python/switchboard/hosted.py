"""Hosted mode: the engine holds the credentials; the SDK holds only client credentials.

The native client fetches the application token itself, keeps it until shortly before it
expires, fetches a new one once however many calls wait on it, and retries a call once after a
401. Arguments go to core as given: core accepts the reference SDK's names
(``airbyte_client_id``, ``airbyte_client_secret``, ``external_user_id``,
``connector_definition_id``) beside ours, and falls back to ``SWITCHBOARD_API_URL``,
``SWITCHBOARD_CLIENT_ID`` / ``AIRBYTE_CLIENT_ID``, ``SWITCHBOARD_CLIENT_SECRET`` /
``AIRBYTE_CLIENT_SECRET``, ``SWITCHBOARD_ORGANIZATION_ID`` / ``AIRBYTE_ORGANIZATION_ID`` and
``SWITCHBOARD_WORKSPACE_NAME`` for what is not passed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _call, _native
from ._executor import Connector, Executor
from ._types import ConnectorInfo

__all__ = ["ConnectorInfo", "HostedExecutor", "Workspace", "connect_as"]

C = TypeVar("C", bound=Connector)


#: ``token_provider(rejected)``: returns a scoped token (``rejected`` is the one the engine just
#: refused, or ``None`` at first); may be ``async``. For apps that must not hold a client secret.
TokenProvider = Callable[[str | None], "str | Awaitable[str]"]


if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    class ClientArgs(TypedDict, total=False):
        """How to reach and authenticate with the engine; see ``Workspace`` for each."""

        client_id: str | None
        client_secret: str | None
        base_url: str | None
        organization_id: str | None
        timeout: float | None
        airbyte_client_id: str | None
        airbyte_client_secret: str | None
        scoped_token: str | None
        token_provider: TokenProvider | None


def _client(client: ClientArgs) -> _native.HostedClient:
    """The native engine client: core resolves the aliases and environment fallbacks and
    refuses unknown arguments."""
    settings: dict[str, Any] = dict(client)
    provider = settings.pop("token_provider", None)
    return _call.sync(_native.HostedClient, _call.settings(**settings), provider)


class Workspace:
    """One end customer's workspace in the engine, created on first use.

    ``async with Workspace(client_id=..., client_secret=..., workspace_name="acme") as ws:``
    then ``create_connector``, ``list_connectors``, ``get_connector``, ``delete_connector``.

    Args:
        client_id: the application's client id (or ``SWITCHBOARD_CLIENT_ID``).
        client_secret: the application's client secret (or ``SWITCHBOARD_CLIENT_SECRET``).
        workspace_name: the workspace (``external_user_id`` is accepted as well; or
            ``SWITCHBOARD_WORKSPACE_NAME``; with none, a scoped token's own, else the
            workspace called ``"default"``, as in the reference SDK).
        base_url: the engine (or ``SWITCHBOARD_API_URL``; default ``http://127.0.0.1:8080``).
        organization_id: sent as ``X-Organization-Id`` (or ``SWITCHBOARD_ORGANIZATION_ID``).
        timeout: seconds allowed for one call to the engine (default 120).
        airbyte_client_id, airbyte_client_secret: the reference SDK's names for the client
            credentials (or ``AIRBYTE_CLIENT_ID`` / ``AIRBYTE_CLIENT_SECRET``).
        scoped_token: a scoped token for one workspace, instead of client credentials (apps
            that must not hold a secret; or ``SWITCHBOARD_SCOPED_TOKEN``).
        token_provider: ``(rejected) -> token`` (sync or async), called for a scoped token at
            first and again whenever the engine rejects the current one.
    """

    def __init__(
        self, *, workspace_name: str | None = None, external_user_id: str | None = None, **client: Unpack[ClientArgs]
    ) -> None:
        client_ = _client(client)
        target = _call.settings(workspace_name=workspace_name, external_user_id=external_user_id)
        self._ws = _call.sync(_native.Workspace, client_, target)

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
        credentials: Mapping[str, Any],
        connector_type: str | None = None,
        definition_id: str | None = None,
        name: str | None = None,
        replication_config: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> str:
        """Stores a connector with its credentials in the engine; returns its id.

        Args:
            credentials: the connector's credential fields (stored encrypted by the engine);
                ``option_title`` may name the auth option, as in the reference.
            connector_type: slug, display name or definition id, e.g. ``"github"``.
            definition_id: the type by definition id (the reference's way), instead.
            name: a name for the connector.
            replication_config: e.g. ``{"repositories": ["octo/hello"]}``.
            config: e.g. ``{"base_url": "..."}``.
        """
        new = {
            "connector_type": connector_type,
            "definition_id": definition_id,
            "credentials": dict(credentials),
            "name": name,
            "replication_config": replication_config,
            "config": config,
        }
        info = _call.as_dict(await _call.call(self._ws.create_connector, _call.settings(**new)))
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
        connector_id: str | None = None,
        workspace_name: str | None = None,
        external_user_id: str | None = None,
        connector_definition_id: str | None = None,
        **client: Unpack[ClientArgs],
    ) -> None:
        # Core applies the target's rules: an id wins, else workspace and type.
        target = _call.settings(
            connector_id=connector_id,
            workspace_name=workspace_name,
            external_user_id=external_user_id,
            connector_definition_id=connector_definition_id,
        )
        self._handle = _call.sync(_native.Executor.hosted, _client(client), target)

    def token_fetches(self) -> int:
        """How many application tokens this executor's client fetched."""
        return self._handle.token_fetches()

    async def connector_info(self) -> ConnectorInfo:
        """The stored connector this executor runs (looked up once)."""
        d = _call.as_dict(await _call.call(self._handle.connector_info))
        return ConnectorInfo._from_dict(d)  # pyright: ignore[reportPrivateUsage]

    def __repr__(self) -> str:
        return "HostedExecutor()"


def connect_as(
    cls: type[C],
    *,
    workspace_name: str | None = None,
    external_user_id: str | None = None,
    connector_id: str | None = None,
    **client: Unpack[ClientArgs],
) -> C:
    """The typed connector ``cls`` running through the engine on the one connector of its type
    in the workspace (or ``connector_id``). The lookup runs on first use: none raises
    ``ConnectorNotFoundError``, two or more ``ConnectorAmbiguityError``."""
    return cls(connector_id=connector_id, workspace_name=workspace_name, external_user_id=external_user_id, **client)
