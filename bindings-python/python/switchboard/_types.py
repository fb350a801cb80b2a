"""Plain data types of the public API (core's own, rendered from its structs, in ``_data``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _call, _native
from ._data import ConnectorInfo, EntityStatus, StoreStatus, SyncStart, SyncStarted

__all__ = [
    "ConnectorInfo",
    "EntityStatus",
    "ExecutionConfig",
    "ExecutionResult",
    "Meta",
    "Pagination",
    "Record",
    "SearchMeta",
    "SearchPage",
    "StoreStatus",
    "SyncStart",
    "SyncStarted",
]

T = TypeVar("T")
R = TypeVar("R", bound="Record")


class Record(dict[str, Any]):
    """A record as the API sent it: a ``dict`` (``record["firstName"]``, ``dict(record)``,
    ``json.dumps(record)``) whose fields also read as attributes. Typed connectors return
    subclasses generated from the connector's response schema, with one typed property per
    field under its snake_case name (``user.first_name`` for Gong's ``firstName``)."""

    __slots__ = ()

    if not TYPE_CHECKING:  # for type checkers a record has its declared properties only

        def __getattr__(self, name: str) -> Any:
            try:
                return self[name]
            except KeyError:
                raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None


def one(cls: type[R], value: Any) -> R | Any:
    """``value`` as a ``cls`` record when it is an object (else as is)."""
    if isinstance(value, dict) and not isinstance(value, cls):
        fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return cls(fields)
    return value


def many(cls: type[R], value: Any) -> list[R] | Any:
    """A list of objects as ``cls`` records (anything else as is)."""
    if not isinstance(value, list):
        return value
    items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
    return [one(cls, v) for v in items]


class Pagination(Record):
    """Where the next page starts: ``cursor`` (``None`` on the last page) and the provider's
    own paging values, e.g. ``total_records``."""

    __slots__ = ()

    @property
    def cursor(self) -> Any:
        """Pass it back as the operation's cursor param for the next page; ``None`` at the end."""
        return self.get("cursor")

    def __getattr__(self, name: str) -> Any:
        """The provider's paging values (``total_records``...): ``None`` when it gave none."""
        return _value_or_none(self, name)


class Meta(Record):
    """A result's meta values (the spec's, e.g. ``has_next_page``) and ``pagination``."""

    __slots__ = ()

    @property
    def pagination(self) -> Pagination:
        """The paging values, always with ``cursor``."""
        return Pagination(self.get("pagination") or {"cursor": None})

    def __getattr__(self, name: str) -> Any:
        """A meta value the spec extracts (``has_next_page``...): ``None`` when absent."""
        return _value_or_none(self, name)


def _value_or_none(values: Record, name: str) -> Any:
    """``values[name]``, ``None`` when absent; a private or special name (``_x``, ``__x__``)
    that is no key is missing as on any object, so libraries probing for their hooks
    (pydantic's ``__pydantic_serializer__``, ``copy``'s ``__deepcopy__``) see none."""
    if name.startswith("_") and name not in values:
        raise AttributeError(name)
    return values.get(name)


class SearchMeta(Record):
    """The paging values of a context store search page."""

    __slots__ = ()

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return bool(self.get("has_more"))

    @property
    def cursor(self) -> str | None:
        """Pass it as ``cursor`` (with the same query) for the next page; ``None`` at the end."""
        cursor: str | None = self.get("cursor")
        return cursor

    @property
    def took_ms(self) -> int | None:
        """How long the search took in the engine, in milliseconds."""
        took: int | None = self.get("took_ms")
        return took


class SearchPage(Record, Generic[R]):
    """``data`` of a ``context_store_search`` result: one page of records cached in the
    engine's context store (``page.data``, typed records in a typed connector) and ``page.meta``
    (``has_more``, ``cursor``, ``took_ms``). A ``dict`` in the engine's shape, as every record."""

    __slots__ = ()

    @property
    def data(self) -> list[R]:
        """The page's records."""
        records: list[R] = self.get("data") or []
        return records

    @property
    def meta(self) -> SearchMeta:
        """``has_more``, ``cursor`` and ``took_ms``."""
        return SearchMeta(self.get("meta") or {})


def search_page(record: type[R], value: Any) -> SearchPage[R] | Any:
    """A search answer (``{data, meta}``) as a ``SearchPage`` of ``record`` records."""
    if not isinstance(value, dict):
        return value
    fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    page: SearchPage[R] = SearchPage({**fields, "data": many(record, fields.get("data") or [])})
    return page


@dataclass
class ExecutionResult(Generic[T]):
    """The result of one operation.

    Attributes:
        success: whether the operation succeeded (failures raise, so results are successes;
            ``check()`` returns ``False`` for an unhealthy connector).
        data: the records (``list`` and ``search`` actions) or the record (others).
        error: an error message, when ``success`` is false.
        meta: pagination and other meta values: ``result.meta.pagination.cursor``.
    """

    success: bool
    data: T
    error: str | None = None
    meta: Meta = field(default_factory=lambda: Meta())

    @classmethod
    def _from_native(
        cls, outcome: _native.Outcome, record: type[Record] = Record, search: bool = False
    ) -> ExecutionResult[Any]:
        # The native side builds the records as `record` instances; a context store search
        # answers a page ({data: [records], meta}) that `search_page` wraps.
        value = outcome.take(None if search else record)
        data = search_page(record, value["data"]) if search else value["data"]
        # Not `ExecutionResult[Any](...)`: calling a subscripted generic goes through typing's
        # alias machinery on every call, for nothing at run time.
        result: ExecutionResult[Any] = ExecutionResult(
            success=value["success"], data=data, error=value["error"], meta=Meta(value["meta"])
        )
        return result

    def to_tool_output(self, max_chars: int = 20_000) -> str:
        """The result as JSON for a model, at most ``max_chars`` characters: long lists lose
        their last records and long text is cut, with a ``_truncated`` note saying what was cut."""
        return _call.sync(_native.tool_output, json.dumps({"data": self.data, "meta": self.meta}), max_chars)


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
        intent: why the agent makes the call (at most 512 characters), sent to the engine in
            hosted mode.
    """

    entity: str
    action: str
    params: Mapping[str, Any] | None = None
    select_fields: Sequence[str] | None = None
    exclude_fields: Sequence[str] | None = None
    skip_truncation: bool = False
    intent: str | None = None
