"""The exception hierarchy: codes from core, classes per code, pickling, no secrets in reprs."""

from __future__ import annotations

import pickle

import pytest

import switchboard
from switchboard import _native
from switchboard.errors import CODE_CLASSES, error_class, from_native

# The SDK table (shared/spec/SDK.md): code -> class.
EXPECTED = {
    "authentication": switchboard.AuthenticationError,
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


def test_codes_come_from_core_and_the_mapping_covers_exactly_them() -> None:
    assert switchboard.ERROR_CODES == tuple(_native.error_codes())
    assert len(switchboard.ERROR_CODES) == len(set(switchboard.ERROR_CODES)) == 13
    # Drift check: a code added to (or removed from) core's ErrorCode::ALL fails here until the
    # Python mapping follows.
    assert set(CODE_CLASSES) == set(switchboard.ERROR_CODES)
    assert set(EXPECTED) == set(switchboard.ERROR_CODES)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_code_maps_to_its_class(code: str) -> None:
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
