"""kubemu's API schemas: every served kind as OpenAPI v3 definitions, and lookups over them.

Importing the package imports every schema module, each of which registers its definitions in
`dsl.DEFINITIONS` at import; after that the table is complete and never changes (custom
resources carry their own schema on their `Resource`). The lookups the handlers use (a kind's
definition name, strategic-merge patch metadata, unknown fields) are re-exported here.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas import (  # noqa: F401  (imported to register definitions)
    meta, core, core_pod, apps, batch, networking, policy, rbac, apiextensions)
from kubemu.cluster.api.schemas.dsl import DEFINITIONS
from kubemu.cluster.api.schemas.lookup import (
    PatchMeta, kind_definition, patch_meta, unknown_fields)

__all__ = ["DEFINITIONS", "PatchMeta", "kind_definition", "patch_meta", "unknown_fields"]
