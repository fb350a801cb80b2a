"""Calling the native module: settings as JSON text, native errors turned into typed ones (a
call's arguments go to the native methods as they are)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import _native
from .errors import ConnectorValidationError, from_native

T = TypeVar("T")


def dumps(value: Any, what: str) -> str:
    """JSON text of a value the caller gave, or ``ConnectorValidationError``."""
    try:
        return json.dumps(value if value is not None else {})
    except (TypeError, ValueError) as e:
        raise ConnectorValidationError(f"{what} must be JSON-serializable: {e}", code="validation") from None


def settings(**values: Any) -> str:
    """Settings for core (``ClientSettings``, ``Target``, ``LocalSettings``) as JSON text,
    leaving out what was not given: core applies aliases and environment fallbacks."""
    return dumps({k: v for k, v in values.items() if v is not None}, "settings")


def sync(fn: Callable[..., T], *args: Any) -> T:
    """Calls a synchronous native function, raising typed errors."""
    try:
        return fn(*args)
    except _native.NativeError as e:
        raise from_native(e) from None


async def call(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Calls an async native method and awaits its future, raising typed errors (a native
    method may fail at the call, e.g. on bad arguments, or in the future)."""
    try:
        return await fn(*args)
    except _native.NativeError as e:
        raise from_native(e) from None


def token_sink(callback: Callable[[dict[str, Any]], Any] | None) -> Callable[[str], Any] | None:
    """Wraps ``on_token_refresh(update: dict)`` (sync or async) for the native token sink."""
    if callback is None:
        return None

    def sink(update: str) -> Any:
        return callback(json.loads(update))

    return sink


def as_dict(text: str) -> dict[str, Any]:
    """A JSON object from the native module."""
    value = json.loads(text)
    assert isinstance(value, dict)
    return value  # pyright: ignore[reportUnknownVariableType]
