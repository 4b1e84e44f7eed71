"""Request bodies: JSON or YAML into plain dicts, with upstream's errors for bad input.

kube-apiserver accepts `application/json` and `application/yaml` bodies (and YAML for
server-side apply), and `application/vnd.kubernetes.protobuf`, which `kubectl create
<generator>` sends for built-in kinds (decoded by `protobuf`). A body that does not parse is a 400 BadRequest naming the problem; an empty
body where an object is required is one too. YAML is loaded with the safe loader, so a body can
never construct Python objects.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from kubemu.cluster.api.errors import BadRequest, UnsupportedMediaType
from kubemu.cluster.api.protobuf import PROTOBUF_CONTENT_TYPE, decode_protobuf

__all__ = ["parse_body", "parse_yaml_or_json"]


def parse_body(body: bytes, content_type: str) -> Any:
    """The decoded body for a content type (JSON unless it names YAML)."""
    if not body.strip():
        raise BadRequest("the request body is empty; an object was expected")
    media = content_type.split(";")[0].strip().lower()
    if media in ("application/yaml", "application/x-yaml", "text/yaml"):
        return parse_yaml_or_json(body)
    if media == PROTOBUF_CONTENT_TYPE:
        return decode_protobuf(body)  # kubectl create <generator> sends protobuf
    if media not in ("application/json", ""):
        raise UnsupportedMediaType(
            f'the body of the request was in an unknown format ("{media}") - accepted media '
            "types include: application/json, application/yaml")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the object provided is unrecognized: invalid JSON: {exc}") from None


def parse_yaml_or_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise BadRequest(f"error converting YAML to JSON: {str(exc).splitlines()[0]}") from None
