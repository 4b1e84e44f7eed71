"""The store's client-visible errors: one exception family, each with a wire `code`.

Errors cross Raft entries, Ray calls and the results table as plain result dicts
(`{"error": {"code", "message", "leader"?}}`), never as pickled exceptions. `to_result()` turns an
error into that dict where the fact is known; `error_from_result()` turns it back into the right
exception on the client side. `retriable` marks the errors a client answers by retrying the same
request id elsewhere (the write is applied at most once either way).
"""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """Base of the store's client-visible errors."""

    code: str = "bad_request"
    retriable: bool = False

    def to_result(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self)}}


class BadRequestError(StoreError):
    code = "bad_request"


class UnknownOpError(StoreError):
    code = "unknown_op"


class ValueTooLargeError(StoreError):
    code = "value_too_large"


class LeaseNotFoundError(StoreError):
    code = "lease_not_found"


class CompactedError(StoreError):
    """The requested revision is older than the store (or watch history) still holds."""

    code = "compacted"

    def __init__(self, required: int = 0, compact_revision: int = 0, *, message: str = "") -> None:
        self.required = required
        self.compact_revision = compact_revision
        super().__init__(message or (f"required revision {required} has been compacted "
                                     f"(compact revision {compact_revision})"))

    def to_result(self) -> dict[str, Any]:
        result = super().to_result()
        result["error"]["compact_revision"] = self.compact_revision
        return result

    def __reduce__(self):
        return _rebuild_compacted, (self.required, self.compact_revision, str(self))


class FutureRevisionError(StoreError):
    code = "future_revision"


class NotLeaderError(StoreError):
    """This member cannot serve the request; `leader` is a hint (0 when unknown)."""

    code = "not_leader"
    retriable = True

    def __init__(self, leader: int = 0, message: str = "") -> None:
        self.leader = leader
        super().__init__(message or f"not the leader (leader hint {leader})")

    def to_result(self) -> dict[str, Any]:
        result = super().to_result()
        result["error"]["leader"] = self.leader
        return result

    def __reduce__(self):
        return NotLeaderError, (self.leader, str(self))


class RequestTimeoutError(StoreError):
    code = "timeout"
    retriable = True


_BY_CODE: dict[str, type[StoreError]] = {
    cls.code: cls
    for cls in (
        BadRequestError, UnknownOpError, ValueTooLargeError, LeaseNotFoundError,
        CompactedError, FutureRevisionError, NotLeaderError, RequestTimeoutError,
    )
}


def _rebuild_compacted(required: int, compact_revision: int, message: str) -> CompactedError:
    return CompactedError(required, compact_revision, message=message)


def is_error(result: dict[str, Any]) -> bool:
    return "error" in result


def error_from_result(result: dict[str, Any]) -> StoreError:
    """The exception an error result stands for (unknown codes become a plain StoreError)."""
    err = result["error"]
    code = err.get("code", "")
    message = err.get("message", "")
    cls = _BY_CODE.get(code)
    if cls is CompactedError:
        return CompactedError(0, err.get("compact_revision", 0), message=message)
    if cls is NotLeaderError:
        return NotLeaderError(err.get("leader", 0), message)
    if cls is None:
        exc = StoreError(message or code)
        exc.code = code
        return exc
    return cls(message)


def check_result(result: dict[str, Any]) -> dict[str, Any]:
    """`result` itself, or raise the error it carries."""
    if "error" in result:
        raise error_from_result(result)
    return result
