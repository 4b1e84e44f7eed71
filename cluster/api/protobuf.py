"""Kubernetes protobuf request bodies decoded into the JSON dict the object would have.

kubectl's typed clients (`kubectl create <generator>|token`, `auth can-i|whoami`, `drain`) POST
`application/vnd.kubernetes.protobuf` and never fall back to JSON, so the API server reads them.
The body is the 4-byte magic `k8s\\x00` followed by a `runtime.Unknown` message: {1: typeMeta
{1: apiVersion, 2: kind}, 2: raw (the object's own message), 3: contentEncoding, 4:
contentType}. `raw` is decoded with the field tables of `protobuf_types`.

Decisions, all mirroring what kube-apiserver's JSON for the same Go object would contain:
- Go writes every non-pointer field, zero or not; zero scalars are dropped unless the table
  marks the field `keep` (pointers, and fields without omitempty). Nested messages present on
  the wire are emitted even when empty (`status: {}`), as Go's JSON does for structs.
- Time is RFC 3339 in UTC with second precision; an empty Time message is the zero time and is
  omitted (Go writes JSON null). IntOrString becomes an int or a str, Quantity its string,
  bytes base64, FieldsV1 the JSON it carries. Embedded structs merge into their parent.
- Unknown field numbers are skipped (a newer client); anything malformed is BadRequest, a kind
  without a table is UnsupportedMediaType. Invalid UTF-8 in strings is replaced, as Go's JSON
  encoder does. The reader is a plain function over bytes: no I/O, no state.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from kubemu.cluster.api.errors import BadRequest, UnsupportedMediaType
from kubemu.cluster.api.protobuf_types import KINDS, SPECS

__all__ = ["PROTOBUF_CONTENT_TYPE", "MAGIC", "Field", "MESSAGES", "SCALARS", "SPECIALS",
           "decode_protobuf", "decode_message", "message_for"]

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
SCALARS = frozenset({"string", "bytes", "int32", "int64", "bool", "double"})
SPECIALS = frozenset({"Time", "IntOrString", "Quantity", "FieldsV1"})


@dataclass(frozen=True)
class Field:
    """One field of a message table, parsed from its `protobuf_types` spec string."""

    name: str
    type: str
    repeated: bool = False
    map: bool = False
    keep: bool = False

    @property
    def inline(self) -> bool:
        return self.name == "*"

    @property
    def is_message(self) -> bool:
        return self.type not in SCALARS and self.type not in SPECIALS

    @classmethod
    def parse(cls, spec: str) -> Field:
        name, _, type_ = spec.rstrip("!").partition(":")
        type_ = type_ or "string"
        repeated, mapped = type_.startswith("[]"), type_.startswith("{}")
        return cls(name=name, type=type_[2:] if repeated or mapped else type_,
                   repeated=repeated, map=mapped, keep=spec.endswith("!"))


def message_for(api_version: str, kind: str) -> str | None:
    """The message that encodes `apiVersion`/`kind`, or None when there is no table."""
    return KINDS.get((api_version, kind))


def decode_protobuf(body: bytes) -> dict:
    """The JSON-shaped object a Kubernetes protobuf body carries, with apiVersion and kind."""
    if not body.startswith(MAGIC):
        raise _bad("the body does not start with the k8s protobuf prefix")
    try:
        api_version, kind, raw, encoding = _envelope(bytes(body[len(MAGIC):]))
    except _WireError as exc:
        raise _bad(str(exc)) from None
    if encoding:
        raise _bad(f'content encoding "{encoding}" is not supported')
    if not api_version or not kind:
        raise _bad("the object has no apiVersion or kind")
    message = message_for(api_version, kind)
    if message is None:
        raise UnsupportedMediaType(
            f"protobuf is not supported for {api_version}/{kind}; send JSON")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(decode_message(raw, message))
    return obj


def decode_message(data: bytes, message: str) -> dict:
    """One message of the tables as a JSON dict; raises BadRequest on malformed bytes."""
    try:
        return _message(data, message)
    except _WireError as exc:
        raise _bad(str(exc)) from None


def _tables() -> dict[str, dict[int, Field]]:
    tables = {name: {num: Field.parse(spec) for num, spec in fields.items()}
              for name, fields in SPECS.items()}
    for name, table in tables.items():
        for num, field in table.items():
            if field.is_message and field.type not in tables:
                raise AssertionError(f"{name}.{num} refers to unknown message {field.type}")
    return tables


MESSAGES: dict[str, dict[int, Field]] = _tables()


class _WireError(Exception):
    """Malformed protobuf; becomes a BadRequest at the public boundary."""


_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_WIRE_OF = {"string": _BYTES, "bytes": _BYTES, "int32": _VARINT, "int64": _VARINT,
            "bool": _VARINT, "double": _FIXED64}
_EPOCH = datetime(1970, 1, 1)
_OMIT = object()  # a decoded value that JSON would write as null: leave the field out
_ZEROS: dict[str, Any] = {"string": "", "bytes": "", "int32": 0, "int64": 0, "bool": False,
                          "double": 0.0, "Quantity": "0", "IntOrString": 0}


def _bad(detail: str) -> BadRequest:
    return BadRequest(f"unable to decode protobuf body: {detail}")


def _envelope(data: bytes) -> tuple[str, str, bytes, str]:
    api_version = kind = encoding = ""
    raw = b""
    for num, wire, value in _fields(data):
        if num == 1 and wire == _BYTES:
            for tnum, twire, tvalue in _fields(value):
                if tnum == 1 and twire == _BYTES:
                    api_version = _text(tvalue)
                elif tnum == 2 and twire == _BYTES:
                    kind = _text(tvalue)
        elif num == 2 and wire == _BYTES:
            raw = value
        elif num == 3 and wire == _BYTES:
            encoding = _text(value)
    return api_version, kind, raw, encoding


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for a varint, bytes for the other types."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise _WireError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _BYTES:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise _WireError(f"field {num} runs past the end of its message")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > end:
                raise _WireError(f"field {num} runs past the end of its message")
            value, pos = data[pos:pos + width], pos + width
        else:
            raise _WireError(f"field {num} has unsupported wire type {wire}")
        yield num, wire, value


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _WireError("varint longer than 10 bytes")


def _message(data: bytes, message: str) -> dict:
    table = MESSAGES[message]
    out: dict[str, Any] = {}
    for num, wire, value in _fields(data):
        field = table.get(num)
        if field is None:
            continue
        where = f"{message}.{field.name if not field.inline else num}"
        if field.map:
            key, item = _map_entry(_expect(value, wire, _BYTES, where), field, where)
            out.setdefault(field.name, {})[key] = item
        elif field.repeated:
            out.setdefault(field.name, []).extend(_repeated(value, wire, field, where))
        elif field.inline:
            out.update(_message(_expect(value, wire, _BYTES, where), field.type))
        else:
            decoded = _single(value, wire, field, where)
            if decoded is _OMIT or (field.type in _WIRE_OF and not field.keep and not decoded):
                out.pop(field.name, None)
            else:
                out[field.name] = decoded
    return out


def _single(value: Any, wire: int, field: Field, where: str) -> Any:
    if field.type in _WIRE_OF:
        return _scalar(value, wire, field.type, where)
    data = _expect(value, wire, _BYTES, where)
    if field.type == "Time":
        stamp = _time(data)
        return _OMIT if stamp is None else stamp
    if field.type == "IntOrString":
        return _int_or_string(data)
    if field.type == "Quantity":
        return _quantity(data)
    if field.type == "FieldsV1":
        return _fields_v1(data, where)
    return _message(data, field.type)


def _repeated(value: Any, wire: int, field: Field, where: str) -> list:
    if field.type in _WIRE_OF and _WIRE_OF[field.type] != _BYTES and wire == _BYTES:
        return _packed(value, field.type, where)
    item = _single(value, wire, field, where)
    return [None if item is _OMIT else item]


def _packed(data: bytes, type_: str, where: str) -> list:
    items: list = []
    pos = 0
    while pos < len(data):
        if type_ == "double":
            if pos + 8 > len(data):
                raise _WireError(f"{where}: truncated packed double")
            items.append(_scalar(data[pos:pos + 8], _FIXED64, type_, where))
            pos += 8
        else:
            raw, pos = _varint(data, pos)
            items.append(_scalar(raw, _VARINT, type_, where))
    return items


def _map_entry(data: bytes, field: Field, where: str) -> tuple[str, Any]:
    key: str = ""
    item: Any = _OMIT
    for num, wire, value in _fields(data):
        if num == 1:
            key = _text(_expect(value, wire, _BYTES, where))
        elif num == 2:
            item = _single(value, wire, field, where)
    if item is _OMIT:  # an absent value is the type's zero; a zero Time is JSON null
        item = _ZEROS.get(field.type, None if field.type == "Time" else {})
    return key, item


def _scalar(value: Any, wire: int, type_: str, where: str) -> Any:
    _expect(value, wire, _WIRE_OF[type_], where)
    if type_ == "string":
        return _text(value)
    if type_ == "bytes":
        return base64.b64encode(value).decode("ascii")
    if type_ == "bool":
        return value != 0
    if type_ == "double":
        return struct.unpack("<d", value)[0]
    if value >= 1 << 63:  # int32 and int64 negatives are 10-byte two's complement varints
        value -= 1 << 64
    return value


def _expect(value: Any, wire: int, expected: int, where: str) -> Any:
    if wire != expected:
        raise _WireError(f"{where} has wire type {wire}, expected {expected}")
    return value


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _time(data: bytes) -> str | None:
    if not data:
        return None
    seconds = 0
    for num, wire, value in _fields(data):
        if num == 1:  # 2 is nanos, which JSON's second precision drops
            seconds = _scalar(value, wire, "int64", "Time.seconds")
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _WireError(f"time {seconds}s is out of range") from None
    return moment.isoformat(timespec="seconds") + "Z"


def _int_or_string(data: bytes) -> int | str:
    kind, int_val, str_val = 0, 0, ""
    for num, wire, value in _fields(data):
        if num == 1:
            kind = _scalar(value, wire, "int64", "IntOrString.type")
        elif num == 2:
            int_val = _scalar(value, wire, "int32", "IntOrString.intVal")
        elif num == 3:
            str_val = _scalar(value, wire, "string", "IntOrString.strVal")
    return str_val if kind == 1 else int_val


def _quantity(data: bytes) -> str:
    text = "0"
    for num, wire, value in _fields(data):
        if num == 1:
            text = _scalar(value, wire, "string", "Quantity.string") or "0"
    return text


def _fields_v1(data: bytes, where: str) -> Any:
    raw = b""
    for num, wire, value in _fields(data):
        if num == 1:
            raw = _expect(value, wire, _BYTES, where)
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _WireError(f"{where} is not JSON") from None
