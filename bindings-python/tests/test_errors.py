"""The exception hierarchy: codes from core, classes per code, pickling, no secrets in reprs."""

from __future__ import annotations

import pickle

import pytest

import switchboard
from switchboard import _native
from switchboard.errors import CATEGORY_CLASSES, CODE_CLASSES, error_class, from_native

# The SDK table (docs/sdk.md, "Errors"): code -> class.
EXPECTED = {
    "authentication": switchboard.AuthenticationError,
    "upstream_authentication": switchboard.UpstreamAuthenticationError,
    "forbidden": switchboard.AuthenticationError,
    "rate_limited": switchboard.RateLimitError,
    "validation": switchboard.ConnectorValidationError,
    "bad_request": switchboard.ConnectorValidationError,
    "not_found": switchboard.ConnectorNotFoundError,
    "conflict": switchboard.ConnectorAmbiguityError,
    "upstream_http": switchboard.HTTPStatusError,
    "upstream_timeout": switchboard.HTTPStatusError,
    "network": switchboard.NetworkError,
    "configuration": switchboard.ConfigurationError,
    "payload_too_large": switchboard.SwitchboardError,
    "internal": switchboard.SwitchboardError,
}


def test_codes_and_categories_come_from_core_and_the_mapping_covers_exactly_them() -> None:
    core = _native.error_codes()
    assert switchboard.ERROR_CODES == tuple(code for code, _ in core)
    assert len(switchboard.ERROR_CODES) == len(set(switchboard.ERROR_CODES))
    # Drift check: a category added to (or removed from) core's ErrorCategory fails here until
    # the Python classes follow; every code raises its category's class.
    assert {category for _, category in core} == set(CATEGORY_CLASSES)
    assert set(CODE_CLASSES) == set(switchboard.ERROR_CODES)
    for code, category in core:
        assert error_class(code) is CATEGORY_CLASSES[category], code
    # The class hierarchy is core's: a category with a parent extends the parent's class.
    categories = _native.error_categories()
    assert {c for c, _ in categories} == set(CATEGORY_CLASSES)
    for category, parent in categories:
        base = CATEGORY_CLASSES[parent] if parent else switchboard.SwitchboardError
        assert issubclass(CATEGORY_CLASSES[category], base), category
    assert issubclass(switchboard.UpstreamAuthenticationError, switchboard.AuthenticationError)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_the_documented_codes_raise_the_documented_classes(code: str) -> None:
    assert error_class(code) is EXPECTED[code]
    assert issubclass(error_class(code), switchboard.SwitchboardError)


def test_unknown_codes_fall_back_to_the_base() -> None:
    assert error_class("something_new") is switchboard.SwitchboardError


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_exceptions_pickle_with_every_field(code: str) -> None:
    err = error_class(code)(
        "it broke",
        code=code,
        status_code=429,
        request_id="req-123",
        retry_after=1.5,
        details={"param": "owner", "nested": [1, 2]},
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert (back.code, back.message, back.status_code, back.request_id, back.retry_after, back.details) == (
        code,
        "it broke",
        429,
        "req-123",
        1.5,
        {"param": "owner", "nested": [1, 2]},
    )
    assert str(back) == f"{code}: it broke"
    assert back.args == ("it broke",)


def test_native_errors_become_typed_errors() -> None:
    native = _native.NativeError("rate_limited", "slow down", 429, "rid-1", 2.0, '{"upstream_status": 429}')
    err = from_native(native)
    assert isinstance(err, switchboard.RateLimitError)
    assert (err.code, err.message, err.status_code, err.request_id, err.retry_after, err.details) == (
        "rate_limited",
        "slow down",
        429,
        "rid-1",
        2.0,
        {"upstream_status": 429},
    )
    assert repr(err) == "RateLimitError(code='rate_limited', message='slow down', status_code=429, request_id='rid-1', retry_after=2.0)"


def test_exceptions_can_be_caught_by_base_class() -> None:
    with pytest.raises(switchboard.SwitchboardError) as info:
        raise switchboard.NetworkError("down", code="network")
    assert info.value.code == "network"
    assert isinstance(info.value, Exception)
