"""The blocking facade: the same API as ``switchboard`` without ``await``.

Every call runs the async API's coroutine to its result on an event loop of the calling
thread's own (made on the thread's first call, closed when the thread ends), so a blocking call
costs about what an awaited one does; called where a loop is running already, it runs on one
background loop thread per process instead and blocks until it is done::

    from switchboard.sync import GithubConnector
    gh = GithubConnector(credentials={"personal_access_token": "..."})
    res = gh.issues.list(owner="octo", repo="hello")
    for page in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello"}): ...

Do not call it from inside a running event loop's coroutine (it would block that loop): use
the async API there.
"""

from __future__ import annotations

from ._sync import run
from ._types import ConnectorInfo, ExecutionConfig, ExecutionResult
from .connectors import _sync as _generated
from ._blocking import HostedExecutor, LocalExecutor, SyncConnector, Workspace
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
