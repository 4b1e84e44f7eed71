"""The store that plays etcd: an MVCC key-value state machine replicated by Raft.

The package exports the client-visible vocabulary (key-values, events, errors); the member,
WAL and state machine are imported from their modules so that importing the errors does not
pull in the Raft core.
"""

from kubemu.cluster.store.errors import (
    BadRequestError, CompactedError, FutureRevisionError, LeaseNotFoundError, NotLeaderError,
    RequestTimeoutError, StoreError, UnknownOpError, ValueTooLargeError, check_result,
    error_from_result,
)
from kubemu.cluster.store.mvcc import ALL_KEYS, MAX_VALUE_BYTES, Event, KeyValue, prefix_end

__all__ = [
    "ALL_KEYS", "MAX_VALUE_BYTES", "BadRequestError", "CompactedError", "Event",
    "FutureRevisionError", "KeyValue", "LeaseNotFoundError", "NotLeaderError",
    "RequestTimeoutError", "StoreError", "UnknownOpError", "ValueTooLargeError", "check_result",
    "error_from_result", "prefix_end",
]
