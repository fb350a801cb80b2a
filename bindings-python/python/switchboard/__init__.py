"""Switchboard: connectors for AI agents.

An agent calls ``execute(entity, action, params)`` (say ``issues`` / ``list`` / ``{owner,
repo}``) and Switchboard turns it into correct calls to GitHub, Stripe, HubSpot, Gong or
Linear: auth, pagination, rate limits, retries, and typed errors an LLM can act on.

Local mode (the caller holds the credentials)::

    from switchboard.connectors import GithubConnector
    gh = GithubConnector(credentials={"personal_access_token": "..."})
    res = await gh.issues.list(owner="octo", repo="hello")

Hosted mode (the engine holds the credentials): ``Workspace``, ``HostedExecutor``,
``connect("github", workspace_name="acme")``. Blocking twins live in ``switchboard.sync``.
"""

from ._executor import Connector, Executor, LocalExecutor
from ._types import (
    ConnectorInfo,
    EntityStatus,
    ExecutionConfig,
    ExecutionResult,
    SearchMeta,
    SearchPage,
    StoreStatus,
    SyncStart,
    SyncStarted,
)
from .connectors import connect
from .errors import (
    ERROR_CODES,
    AuthenticationError,
    ConfigurationError,
    ConnectorAmbiguityError,
    ConnectorNotFoundError,
    ConnectorValidationError,
    HTTPStatusError,
    NetworkError,
    RateLimitError,
    SwitchboardError,
    UpstreamAuthenticationError,
)
from .hosted import HostedExecutor, Workspace

__version__ = "0.1.0"

__all__ = [
    "ERROR_CODES",
    "AuthenticationError",
    "ConfigurationError",
    "Connector",
    "ConnectorAmbiguityError",
    "ConnectorInfo",
    "ConnectorNotFoundError",
    "ConnectorValidationError",
    "EntityStatus",
    "ExecutionConfig",
    "ExecutionResult",
    "Executor",
    "HTTPStatusError",
    "HostedExecutor",
    "LocalExecutor",
    "NetworkError",
    "RateLimitError",
    "SearchMeta",
    "SearchPage",
    "StoreStatus",
    "SwitchboardError",
    "SyncStart",
    "SyncStarted",
    "UpstreamAuthenticationError",
    "Workspace",
    "connect",
]
