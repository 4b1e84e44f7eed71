"""API errors: one exception family, each a Kubernetes `Status` with upstream reason and code.

Errors are raised where the fact is known (validation, a store compare that failed, a missing
object) and turned into an HTTP response exactly once, at the edge, by `ApiError.status()`.
Messages follow kube-apiserver's wording (`pods "web" not found`, `Operation cannot be
fulfilled on ...`) because users and client libraries read them. `FieldError` is one entry of
an Invalid error (upstream's field.Error): its type decides the wording ("Required value",
"Invalid value: ...") and it becomes one `details.causes` item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
    "NotAcceptable", "AlreadyExists", "Conflict", "Gone", "Expired", "RequestEntityTooLarge",
    "UnsupportedMediaType", "Invalid", "TooManyRequests", "InternalError", "ServiceUnavailable",
    "Timeout", "FieldError", "qualified_resource", "status_object", "error_from_status",
]


def status_object(*, code: int, reason: str, message: str,
                  details: dict[str, Any] | None = None, status: str = "Failure") -> dict:
    """A `meta.k8s.io/v1 Status` dict."""
    obj: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": status, "message": message, "reason": reason,
                           "code": code}
    if details:
        obj["details"] = details
    if not reason:
        del obj["reason"]
    return obj


def qualified_resource(plural: str, group: str) -> str:
    """`pods`, `deployments.apps`: how upstream names a resource in messages."""
    return f"{plural}.{group}" if group else plural


class ApiError(Exception):
    """Base of every API error; `status()` is its `Status` object."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def status(self) -> dict:
        return status_object(code=self.code, reason=self.reason, message=self.message,
                             details=self.details)

    def body(self) -> bytes:
        return orjson.dumps(self.status())


def _named(cls, verb_message, plural: str, group: str, name: str, **extra) -> ApiError:
    details: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    details.update(extra)
    return cls(verb_message, details=details)


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, plural: str, group: str, name: str) -> NotFound:
        return _named(cls, f'{qualified_resource(plural, group)} "{name}" not found',
                      plural, group, name)


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, plural: str, group: str, name: str) -> AlreadyExists:
        return _named(cls, f'{qualified_resource(plural, group)} "{name}" already exists',
                      plural, group, name)


class Conflict(ApiError):
    code, reason = 409, "Conflict"

    @classmethod
    def of(cls, plural: str, group: str, name: str, why: str) -> Conflict:
        return _named(cls, f'Operation cannot be fulfilled on {qualified_resource(plural, group)}'
                      f' "{name}": {why}', plural, group, name)

    @classmethod
    def modified(cls, plural: str, group: str, name: str) -> Conflict:
        return cls.of(plural, group, name, "the object has been modified; please apply your "
                      "changes to the latest version and try again")


class Gone(ApiError):
    code, reason = 410, "Gone"


class Expired(ApiError):
    """410 with reason Expired: a resourceVersion or continue token older than the store."""

    code, reason = 410, "Expired"


class RequestEntityTooLarge(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


@dataclass(frozen=True)
class FieldError:
    """One invalid field: `type` is Required, Invalid, NotSupported, Duplicate, Forbidden,
    TooLong, TooMany or NotFound (upstream's field.ErrorType names)."""

    type: str
    field: str
    detail: str = ""
    value: Any = None
    supported: tuple[str, ...] = ()

    _TYPES = {"Required": ("FieldValueRequired", "Required value"),
              "Invalid": ("FieldValueInvalid", "Invalid value"),
              "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
              "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
              "Forbidden": ("FieldValueForbidden", "Forbidden"),
              "TooLong": ("FieldValueTooLong", "Too long"),
              "TooMany": ("FieldValueTooMany", "Too many"),
              "NotFound": ("FieldValueNotFound", "Not found")}

    def __str__(self) -> str:
        _, text = self._TYPES.get(self.type, ("FieldValueInvalid", self.type))
        if self.type in ("Invalid", "NotSupported", "Duplicate", "NotFound"):
            text = f"{text}: {_render(self.value)}"
        if self.type == "NotSupported" and self.supported:
            text += ": supported values: " + ", ".join(f'"{s}"' for s in self.supported)
        elif self.detail:
            text += f": {self.detail}"
        return f"{self.field}: {text}"

    def cause(self) -> dict:
        reason, _ = self._TYPES.get(self.type, ("FieldValueInvalid", ""))
        message = str(self)[len(self.field) + 2:]
        return {"reason": reason, "message": message, "field": self.field}


def _render(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


class Invalid(ApiError):
    """422: the object failed validation; each FieldError becomes a cause."""

    code, reason = 422, "Invalid"

    @classmethod
    def of(cls, kind: str, group: str, name: str, errors: list[FieldError]) -> Invalid:
        qualified = f"{kind}.{group}" if group else kind
        if len(errors) == 1:
            listing = str(errors[0])
        else:
            listing = "[" + ", ".join(str(e) for e in errors) + "]"
        details: dict[str, Any] = {"name": name, "kind": kind,
                                   "causes": [e.cause() for e in errors]}
        if group:
            details["group"] = group
        return cls(f'{qualified} "{name}" is invalid: {listing}', details=details)


class TooManyRequests(ApiError):
    code, reason = 429, "TooManyRequests"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(ApiError):
    code, reason = 504, "Timeout"


_BY_REASON: dict[str, type[ApiError]] = {
    c.reason: c for c in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                          NotAcceptable, AlreadyExists, Conflict, Gone, Expired,
                          RequestEntityTooLarge, UnsupportedMediaType, Invalid, TooManyRequests,
                          InternalError, ServiceUnavailable, Timeout)}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 410: Gone, 413: RequestEntityTooLarge,
    415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests, 500: InternalError,
    503: ServiceUnavailable, 504: Timeout}


def error_from_status(status: dict, *, code: int | None = None) -> ApiError:
    """The ApiError a `Status` dict (from a response or a watch ERROR event) stands for."""
    code = int(status.get("code") or code or 500)
    cls = _BY_REASON.get(status.get("reason", "")) or _BY_CODE.get(code, InternalError)
    err = cls(status.get("message", ""), details=status.get("details") or {})
    err.code = code
    return err
