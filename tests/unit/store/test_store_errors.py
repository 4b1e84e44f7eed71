"""Store errors survive the trip through result dicts and come back as the right exception."""

from __future__ import annotations

import pickle

import msgpack
import pytest

from kubemu.cluster.store.errors import (
    BadRequestError, CompactedError, FutureRevisionError, LeaseNotFoundError, NotLeaderError,
    RequestTimeoutError, StoreError, UnknownOpError, ValueTooLargeError, check_result,
    error_from_result,
)


@pytest.mark.parametrize(
    "exc,code,retriable",
    [
        pytest.param(CompactedError(3, 7), "compacted", False, id="compacted"),
        pytest.param(FutureRevisionError("x"), "future_revision", False, id="future"),
        pytest.param(ValueTooLargeError("x"), "value_too_large", False, id="too-large"),
        pytest.param(UnknownOpError("x"), "unknown_op", False, id="unknown-op"),
        pytest.param(LeaseNotFoundError("x"), "lease_not_found", False, id="lease"),
        pytest.param(BadRequestError("x"), "bad_request", False, id="bad-request"),
        pytest.param(NotLeaderError(2), "not_leader", True, id="not-leader"),
        pytest.param(RequestTimeoutError("x"), "timeout", True, id="timeout"),
    ],
)
def test_error_round_trips_through_a_result_dict(exc, code, retriable):
    result = msgpack.unpackb(msgpack.packb(exc.to_result()))
    assert result["error"]["code"] == code
    back = error_from_result(result)
    assert type(back) is type(exc) and str(back) == str(exc)
    assert back.retriable is retriable and isinstance(back, StoreError)
    with pytest.raises(type(exc)):
        check_result(result)


def test_error_details_survive():
    assert error_from_result(NotLeaderError(3).to_result()).leader == 3
    err = error_from_result(CompactedError(3, 7).to_result())
    assert err.compact_revision == 7
    assert "required revision 3 has been compacted (compact revision 7)" in str(err)


def test_unknown_code_is_a_plain_store_error():
    err = error_from_result({"error": {"code": "mystery", "message": "hm"}})
    assert type(err) is StoreError and err.code == "mystery"


def test_check_result_passes_ok_results_through():
    assert check_result({"revision": 3}) == {"revision": 3}


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(CompactedError(3, 7), id="compacted"),
        pytest.param(NotLeaderError(2), id="not-leader"),
        pytest.param(FutureRevisionError("future"), id="future"),
    ],
)
def test_errors_pickle_with_their_details(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    assert back.to_result() == exc.to_result()
