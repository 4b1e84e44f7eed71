"""Storage transformer: the bytes the API server writes to the store for an object, as
kube-apiserver's value transformers (k8s.io/apiserver/pkg/storage/value) turn an encoded object
into what etcd holds.

kube-apiserver stores protobuf, several times smaller than JSON. kubemu stores its JSON
compressed with zstd against a fixed dictionary of the objects a cluster writes most
(`transformer_samples`: a Deployment's pod, its Events, node Leases and Nodes, ReplicaSets,
EndpointSlices). Objects of one kind share most of their bytes (field names, defaults, images,
conditions), so a 2.5 KB pod is stored in ~250 bytes and a 700-byte Event in ~150: the store
replicas (MVCC history, Raft log, WAL, snapshots) and the API server's watch cache, which keeps
the stored bytes, hold several times less, and less crosses the links between them.
Compressing a pod takes ~8 us and reading it back ~4 us (parsing its JSON takes longer).

A transformed value is `PREFIX` + a zstd frame; `PREFIX` starts with a NUL, which no JSON text
does, so `read` takes anything else as plain JSON: what an older kubemu wrote, or a value a
test put into the store, reads as before. A value that would not shrink is stored as plain
JSON. The dictionary is part of the format: changing it needs a new prefix (the tests pin its
digest). Each thread gets its own compressor and decompressor (zstd contexts are not shared).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import zstandard

from kubemu.cluster.api.transformer_samples import dictionary

__all__ = ["PREFIX", "write", "read", "loads", "json_size"]

PREFIX = b"\x00kz1"
_LEVEL = 3
_DICT = zstandard.ZstdCompressionDict(dictionary(), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_DICT.precompute_compress(level=_LEVEL)


class _Codecs(threading.local):
    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(
            dict_data=_DICT, write_checksum=False, write_dict_id=False)
        self.decompressor = zstandard.ZstdDecompressor(dict_data=_DICT)


_codecs = _Codecs()


def write(data: bytes) -> bytes:
    """What to store for the JSON `data`."""
    packed = PREFIX + _codecs.compressor.compress(data)
    return packed if len(packed) < len(data) else data


def read(value: bytes) -> bytes:
    """The JSON a stored value holds (ValueError if a transformed value is damaged)."""
    if value[:len(PREFIX)] != PREFIX:
        return value
    try:
        return _codecs.decompressor.decompress(memoryview(value)[len(PREFIX):])
    except zstandard.ZstdError as exc:
        raise ValueError(f"stored value does not decompress: {exc}") from None


def loads(value: bytes) -> Any:
    """The object a stored value holds."""
    return orjson.loads(read(value))


def json_size(value: bytes) -> int:
    """The length of the JSON a stored value holds, without decompressing it (a transformed
    value's zstd frame header records it)."""
    if value[:len(PREFIX)] != PREFIX:
        return len(value)
    size = zstandard.frame_content_size(memoryview(value)[len(PREFIX):])
    return size if size >= 0 else len(value)
