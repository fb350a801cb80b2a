"""The exceptions of Switchboard: one base, a small hierarchy by error code.

Every failure carries a stable ``code`` (the same codes in every SDK and the engine's HTTP API),
plus ``status_code``, ``request_id``, ``retry_after`` (for ``rate_limited``) and ``details``.
Messages never contain a credential. Exceptions pickle and unpickle with every field.
"""

from __future__ import annotations

import json
from typing import Any

from . import _native

__all__ = ["ERROR_CODES", "SwitchboardError", "error_class"]

#: Every public error code, in core's order, and its category (the class it raises): read from
#: the native module, so neither can drift from core.
_CODES: dict[str, str] = dict(_native.error_codes())
ERROR_CODES: tuple[str, ...] = tuple(_CODES)


class SwitchboardError(Exception):
    """Base of every Switchboard error; also raised as is for codes without a subclass
    (``payload_too_large``, ``internal``).

    Attributes:
        code: the stable snake_case error code (see ``ERROR_CODES``).
        message: what went wrong and how to fix it; never contains a secret.
        status_code: the upstream (local mode) or engine (hosted mode) HTTP status, if any.
        request_id: the engine's or upstream's request id, if known.
        retry_after: seconds to wait before retrying (``rate_limited``).
        details: structured details, e.g. ``{"param": "owner"}``.
    """

    code: str
    message: str
    status_code: int | None
    request_id: str | None
    retry_after: float | None
    details: Any

    def __init__(
        self,
        message: str,
        *,
        code: str = "internal",
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        fields = [f"code={self.code!r}", f"message={self.message!r}"]
        for name in ("status_code", "request_id", "retry_after"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(fields)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._fields()))

    def _fields(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status_code": self.status_code,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
            "details": self.details,
        }


def _rebuild(cls: type[SwitchboardError], message: str, fields: dict[str, Any]) -> SwitchboardError:
    return cls(message, **fields)


# The subclasses, one per error category of core, are rendered by generate.py (``_errors.py``).
from . import _errors  # noqa: E402
from ._errors import *  # noqa: E402, F403
from ._errors import CATEGORY_CLASSES as CATEGORY_CLASSES  # noqa: E402  (re-exported)

__all__ += _errors.__all__

#: The exception class of every code.
CODE_CLASSES: dict[str, type[SwitchboardError]] = {
    code: CATEGORY_CLASSES[category] for code, category in _CODES.items()
}


def error_class(code: str) -> type[SwitchboardError]:
    """The exception class raised for ``code``."""
    return CODE_CLASSES.get(code, SwitchboardError)


def from_native(e: _native.NativeError) -> SwitchboardError:
    """The typed exception for a native one."""
    code, message, status_code, request_id, retry_after, details = e.args
    return error_class(code)(
        message,
        code=code,
        status_code=status_code,
        request_id=request_id,
        retry_after=retry_after,
        details=json.loads(details) if details is not None else None,
    )
