"""Plain data types of the public API."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _native

__all__ = ["ConnectorInfo", "ExecutionConfig", "ExecutionResult"]


@dataclass
class ExecutionResult:
    """The result of one operation.

    Attributes:
        success: whether the operation succeeded (failures raise, so results are successes).
        data: the records (``list`` and ``search`` actions) or the record (others).
        error: an error message, when ``success`` is false.
        meta: pagination and other meta values, e.g. ``{"has_next_page": True, "end_cursor": "..."}``.
    """

    success: bool
    data: Any
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=lambda: {})

    @classmethod
    def _from_json(cls, text: str) -> ExecutionResult:
        value = json.loads(text)
        return cls(success=True, data=value.get("data"), error=None, meta=value.get("meta") or {})

    def to_tool_output(self, max_chars: int = 20_000) -> str:
        """The result as JSON for a model, at most ``max_chars`` characters: long lists lose
        their last records and long text is cut, with a ``_truncated`` note saying what was cut."""
        return _native.tool_output(json.dumps({"data": self.data, "meta": self.meta}), max_chars)


@dataclass
class ExecutionConfig:
    """One operation to execute: ``await executor.execute(ExecutionConfig(...))``.

    Attributes:
        entity: the entity, e.g. ``"issues"``.
        action: the action, e.g. ``"list"``.
        params: the operation's params.
        select_fields: keep only these dot paths of each record.
        exclude_fields: drop these dot paths from each record.
        skip_truncation: return long text in list results whole.
    """

    entity: str
    action: str
    params: Mapping[str, Any] | None = None
    select_fields: Sequence[str] | None = None
    exclude_fields: Sequence[str] | None = None
    skip_truncation: bool = False


@dataclass(frozen=True)
class ConnectorInfo:
    """A connector stored in the engine, as the engine describes it (never its credentials)."""

    id: str
    name: str
    connector_type: str
    definition_id: str
    workspace_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> ConnectorInfo:
        return cls(
            id=d["id"],
            name=d.get("name") or "",
            connector_type=d.get("connector_type") or "",
            definition_id=d.get("definition_id") or "",
            workspace_name=d.get("workspace_name"),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
        )
