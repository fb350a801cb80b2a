"""The blocking facade: the same API as ``switchboard`` without ``await``.

Every call runs the async API's coroutine on one background event loop thread per process
(started on first use, and again in a fork child)::

    from switchboard.sync import GithubConnector
    gh = GithubConnector(credentials={"personal_access_token": "..."})
    res = gh.issues.list(owner="octo", repo="hello")
    for page in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello"}): ...

Do not call it from inside a running event loop's coroutine (it would block that loop): use
the async API there.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import hosted

if TYPE_CHECKING:
    from typing_extensions import Unpack
from ._executor import LocalExecutor as _AsyncLocalExecutor
from ._executor import TokenRefreshCallback
from ._sync import SyncConnector, SyncExecutor, run
from ._types import ConnectorInfo, ExecutionConfig, ExecutionResult
from .connectors import _sync as _generated
from .connectors._sync import *  # noqa: F403  (the typed connectors, blocking)
from .connectors._sync import SYNC_CONNECTORS, connect

__all__ = [
    "SYNC_CONNECTORS",
    "ConnectorInfo",
    "ExecutionConfig",
    "ExecutionResult",
    "HostedExecutor",
    "LocalExecutor",
    "SyncConnector",
    "Workspace",
    "connect",
    "run",
]
__all__ += _generated.__all__


class LocalExecutor(SyncExecutor[_AsyncLocalExecutor]):
    """Blocking ``switchboard.LocalExecutor``: any connector, credentials held by the caller."""

    def __init__(
        self,
        slug: str,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        on_token_refresh: TokenRefreshCallback | None = None,
        timeout: float | None = None,
    ) -> None:
        self._async = _AsyncLocalExecutor(
            slug, credentials, config, on_token_refresh=on_token_refresh, timeout=timeout
        )

    @property
    def slug(self) -> str:
        """The connector's slug."""
        return self._async.slug


class HostedExecutor(SyncExecutor[hosted.HostedExecutor]):
    """Blocking ``switchboard.HostedExecutor``: one connector stored in the engine."""

    def __init__(
        self,
        *,
        connector_id: str | None = None,
        workspace_name: str | None = None,
        external_user_id: str | None = None,
        connector_definition_id: str | None = None,
        **client: Unpack[hosted.ClientArgs],
    ) -> None:
        self._async = hosted.HostedExecutor(
            connector_id=connector_id,
            workspace_name=workspace_name,
            external_user_id=external_user_id,
            connector_definition_id=connector_definition_id,
            **client,
        )

    @classmethod
    def _wrap(cls, executor: hosted.HostedExecutor) -> HostedExecutor:
        obj = cls.__new__(cls)
        obj._async = executor
        return obj

    def token_fetches(self) -> int:
        """How many application tokens this executor's client fetched."""
        return self._async.token_fetches()

    def connector_info(self) -> ConnectorInfo:
        """The stored connector this executor runs."""
        return run(self._async.connector_info())

    def close(self) -> None:
        """Releases the executor."""
        self._async.close()

    def __enter__(self) -> HostedExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Workspace:
    """Blocking ``switchboard.Workspace``; a context manager."""

    def __init__(
        self, *, workspace_name: str | None = None, external_user_id: str | None = None, **client: Unpack[hosted.ClientArgs]
    ) -> None:
        self._async = hosted.Workspace(workspace_name=workspace_name, external_user_id=external_user_id, **client)

    @property
    def name(self) -> str:
        """The workspace's name."""
        return self._async.name

    def token_fetches(self) -> int:
        """How many application tokens this workspace's client fetched."""
        return self._async.token_fetches()

    def create_connector(
        self,
        *,
        credentials: Mapping[str, Any],
        connector_type: str | None = None,
        definition_id: str | None = None,
        name: str | None = None,
        replication_config: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> str:
        """Stores a connector with its credentials; returns its id."""
        return run(
            self._async.create_connector(
                connector_type=connector_type,
                definition_id=definition_id,
                credentials=credentials,
                name=name,
                replication_config=replication_config,
                config=config,
            )
        )

    def list_connectors(self) -> list[ConnectorInfo]:
        """The workspace's connectors."""
        return run(self._async.list_connectors())

    def find_connector(self, *, connector_id: str | None = None, name: str | None = None) -> ConnectorInfo:
        """The one connector matching ``connector_id`` or ``name``."""
        return run(self._async.find_connector(connector_id=connector_id, name=name))

    def get_connector(self, *, connector_id: str | None = None, name: str | None = None) -> HostedExecutor:
        """An executor for one connector, by id or name (see the async ``get_connector``)."""
        return HostedExecutor._wrap(run(self._async.get_connector(connector_id=connector_id, name=name)))  # pyright: ignore[reportPrivateUsage]

    def delete_connector(self, connector_id: str) -> None:
        """Deletes a connector and its stored credentials."""
        run(self._async.delete_connector(connector_id))

    def close(self) -> None:
        """Releases the workspace."""
        run(self._async.close())

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
