"""The bodies of `kubemu apply`, `get` and `delete`: kubectl's everyday verbs without kubectl.

Each is an async function over an `ApiClient` (the command line gives it one over HTTP with
the kubeconfig `kubemu up` wrote, and the objects read from manifests), printing through an
`echo(text, err=False)` callback. Decisions, each following kubectl 1.32's observable behaviour:
- a KIND argument resolves like kubectl's: plural, singular, short name or Kind, optionally
  `.group` or `.version.group`; built-ins from the registry, custom kinds through discovery
  (`GET /apis`, then `/apis/<group>/<preferred version>`); `get` also takes a comma-separated
  list and categories (`all`);
- `get` asks the server for a `meta.k8s.io/v1` Table and prints its priority-0 columns (and
  priority 1 with `-o wide`) aligned as kubectl's tabwriter does (3 spaces of padding, minimum
  width 6), NAMESPACE first with `-A` on a namespaced kind;
- `apply` is client-side apply kept simple: GET, then create, or a JSON merge patch of the
  manifest plus nulls for the fields dropped since the last apply (read from the
  `kubectl.kubernetes.io/last-applied-configuration` annotation, which it also writes, so
  kubectl's own apply agrees); the server skips no-op writes, and an object whose
  non-status content came back the same is `unchanged` (controllers may write status
  meanwhile);
- an API error prints as kubectl's one line, `Error from server (NotFound): ...`; a command
  working through several objects reports each failure and goes on, then exits 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import yaml

from kubemu.cluster.api.errors import ApiError, NotFound, Unauthorized, error_from_status
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.request import Request
from kubemu.cluster.client.client import DEFAULT_NAMESPACE, ApiClient

__all__ = ["CliError", "error_line", "resolve_kind", "apply", "get", "delete", "render_table",
           "TABLE_ACCEPT", "LAST_APPLIED"]

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FIELD_MANAGER = "kubemu-apply"
Echo = Callable[..., None]  # click.echo's shape: echo(text, err=False)


class CliError(Exception):
    """A one-line failure of the command itself (bad input, no cluster); exit code 1."""


def error_line(exc: BaseException) -> str:
    """kubectl's one-line rendering of a failure."""
    if isinstance(exc, Unauthorized):
        return "error: You must be logged in to the server (Unauthorized)"
    if isinstance(exc, ApiError):
        return f"Error from server ({type(exc).reason}): {exc.message}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"Unable to connect to the server: {_first_line(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return (f"The connection to the server {exc.host}:{exc.port} was refused - "
                    f"did you specify the right host or port?")
        return f"Unable to connect to the server: {_first_line(exc)}"
    if isinstance(exc, asyncio.TimeoutError):
        return "error: the server did not answer in time"
    return f"error: {exc}"


async def resolve_kind(client: ApiClient, arg: str) -> Resource:
    """The resource a `get`/`delete` KIND argument names (kubectl's resolution)."""
    wanted = arg.strip().lower()
    found = _match(client.registry.resources(), wanted)
    if found is None:
        found = _match(await _discover_custom(client), wanted)
    if found is None:
        raise CliError(f'the server doesn\'t have a resource type "{arg}"')
    return found


async def apply(client: ApiClient, objects: list[dict], *, namespace: str | None,
                echo: Echo) -> int:
    """Create or configure each object; print `kind.group/name created|configured|unchanged`."""
    code = 0
    for obj in objects:
        try:
            echo(await _apply_one(client, obj, namespace))
        except (CliError, ApiError) as exc:
            echo(error_line(exc), err=True)
            code = 1
    return code


async def get(client: ApiClient, kinds: str, names: tuple[str, ...], *,
              namespace: str | None, all_namespaces: bool, selector: str | None,
              field_selector: str | None, output: str | None, echo: Echo) -> int:
    """Print objects as a table, names, JSON or YAML."""
    resources = [r for k in kinds.split(",") if k for r in await _expand(client, k)]
    if names and len(resources) > 1:
        raise CliError("a resource name needs exactly one resource type")
    if names and all_namespaces:
        raise CliError("a resource cannot be retrieved by name across all namespaces")
    ns = None if all_namespaces else (namespace or DEFAULT_NAMESPACE)
    if output in ("json", "yaml", "name"):
        items, code = await _fetch_objects(client, resources, names, ns=ns,
                                           selector=selector, field_selector=field_selector,
                                           echo=echo)
        _print_objects(items, output=output, single=len(names) == 1, echo=echo)
        if output == "name" and not items and not names:
            echo(_nothing_found(resources, ns), err=True)
        return code
    code, printed = 0, 0
    for res in resources:
        tables = []
        for name in names or (None,):
            try:
                tables.extend(await _tables(client, res, ns=ns, name=name, selector=selector,
                                            field_selector=field_selector))
            except ApiError as exc:
                if name is None:
                    raise  # a list failed: nothing more to say
                echo(error_line(exc), err=True)
                code = 1
        if not any(t.get("rows") for t in tables):
            continue
        if printed:
            echo("")
        lines = render_table(tables, wide=output == "wide",
                             with_namespace=all_namespaces and res.namespaced,
                             name_prefix=_type_name(res) + "/" if len(resources) > 1 else "")
        echo("\n".join(lines))
        printed += 1
    if not printed and not names:
        echo(_nothing_found(resources, ns), err=True)
    return code


async def delete(client: ApiClient, args: tuple[str, ...], *, objects: list[dict],
                 namespace: str | None, echo: Echo) -> int:
    """Delete `KIND NAME...`, `KIND/NAME...` or the manifest `objects`; print `kind "x"
    deleted` for each."""
    targets: list[tuple[Resource, str, str | None]] = []
    if objects:
        if args:
            raise CliError("name cannot be provided when a path is specified")
        for obj in objects:
            res, ns = await _resource_of(client, obj, namespace)
            targets.append((res, obj["metadata"]["name"], ns))
    elif args and all("/" in a for a in args):
        for arg in args:
            kind, _, name = arg.partition("/")
            targets.append((await resolve_kind(client, kind), name,
                            namespace or DEFAULT_NAMESPACE))
    elif len(args) >= 2:
        res = await resolve_kind(client, args[0])
        targets.extend((res, name, namespace or DEFAULT_NAMESPACE) for name in args[1:])
    else:
        raise CliError("you must provide one or more resources by argument or filename "
                       "(kubemu delete KIND NAME... or -f FILE)")
    code = 0
    for res, name, ns in targets:
        try:
            await client.delete(res.api_version, res.kind, name, namespace=ns,
                                propagation_policy="Background")
            echo(f'{_type_name(res)} "{name}" deleted')
        except ApiError as exc:
            echo(error_line(exc), err=True)
            code = 1
    return code


def render_table(tables: list[dict], *, wide: bool = False, with_namespace: bool = False,
                 name_prefix: str = "") -> list[str]:
    """Lines of one or more Table pages of the same resource, as kubectl prints them."""
    columns = next((t["columnDefinitions"] for t in tables if t.get("columnDefinitions")), [])
    keep = [i for i, c in enumerate(columns) if int(c.get("priority") or 0) <= int(wide)]
    name_at = next((i for i in keep if columns[i].get("format") == "name"
                    or columns[i].get("name") == "Name"), None)
    header = [columns[i]["name"].upper() for i in keep]
    if with_namespace:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for table in tables:
        for row in table.get("rows") or ():
            cells = row.get("cells") or []
            line = [(name_prefix if i == name_at else "") + _cell(cells[i] if i < len(cells)
                                                                  else None) for i in keep]
            if with_namespace:
                md = (row.get("object") or {}).get("metadata") or {}
                line.insert(0, md.get("namespace") or "")
            rows.append(line)
    return _align(rows)


# ---- apply --------------------------------------------------------------------------------

async def _apply_one(client: ApiClient, obj: dict, namespace: str | None) -> str:
    res, ns = await _resource_of(client, obj, namespace)
    api_version, kind, name = res.api_version, obj["kind"], obj["metadata"]["name"]
    desired = _with_last_applied(obj)
    try:
        current = await client.get(api_version, kind, name, namespace=ns)
    except NotFound:
        await client.create(desired, namespace=ns, field_manager=FIELD_MANAGER)
        return f"{_type_name(res)}/{name} created"
    patch = _merge_patch(desired, _last_applied(current))
    after = await client.patch(api_version, kind, name, patch, namespace=ns,
                               patch_type="merge", field_manager=FIELD_MANAGER)
    changed = _applied_part(after) != _applied_part(current)
    return f"{_type_name(res)}/{name} {'configured' if changed else 'unchanged'}"


def _applied_part(obj: dict) -> dict:
    """What an apply can change: not status, nor the bookkeeping every write touches (a
    controller may write status between our GET and PATCH)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


async def _resource_of(client: ApiClient, obj: dict,
                       namespace: str | None) -> tuple[Resource, str | None]:
    """The resource of a manifest object and the namespace it goes to (set into it)."""
    md = obj.setdefault("metadata", {})
    if not md.get("name"):
        raise CliError(f"a {obj.get('kind')} in the manifest has no metadata.name")
    try:
        res = await client.resource(obj["apiVersion"], obj["kind"])
    except NotFound as exc:
        raise CliError(f'resource mapping not found for name: "{md["name"]}": '
                       f"{exc.message}") from exc
    if not res.namespaced:
        return res, None
    own = md.get("namespace")
    if own and namespace and own != namespace:
        raise CliError(f'the namespace from the provided object "{own}" does not match the '
                       f'namespace "{namespace}". You must pass \'--namespace={own}\' to '
                       f"perform this operation.")
    md["namespace"] = own or namespace or DEFAULT_NAMESPACE
    return res, md["namespace"]


def _with_last_applied(obj: dict) -> dict:
    md = obj.get("metadata") or {}
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k != LAST_APPLIED}
    plain = {**obj, "metadata": {**md, "annotations": annotations}}
    if not annotations:
        del plain["metadata"]["annotations"]
    text = json.dumps(plain, sort_keys=True, separators=(",", ":")) + "\n"
    return {**obj, "metadata": {**md, "annotations": {**annotations, LAST_APPLIED: text}}}


def _last_applied(current: dict) -> dict | None:
    text = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return last if isinstance(last, dict) else None


def _merge_patch(desired: dict, last: dict | None) -> dict:
    """`desired` plus a null for every field the last apply set and `desired` no longer has."""
    patch = dict(desired)
    for key, old in (last or {}).items():
        if key not in desired:
            patch[key] = None
        elif isinstance(old, dict) and isinstance(desired[key], dict):
            patch[key] = _merge_patch(desired[key], old)
    return patch


# ---- get ----------------------------------------------------------------------------------

async def _tables(client: ApiClient, res: Resource, *, ns: str | None, name: str | None,
                  selector: str | None, field_selector: str | None) -> list[dict]:
    path = client.path(res, namespace=ns if res.namespaced else None, name=name)
    query = {k: v for k, v in (("labelSelector", selector),
                               ("fieldSelector", field_selector)) if v and name is None}
    if name is None:
        query["limit"] = "500"
    pages = []
    while True:
        page = await _get_json(client, path, query, accept=TABLE_ACCEPT)
        if page.get("kind") != "Table":
            raise CliError(f"the server answered a {page.get('kind')} instead of a Table")
        pages.append(page)
        token = (page.get("metadata") or {}).get("continue")
        if not token or name is not None:
            return pages
        query["continue"] = token


async def _fetch_objects(client: ApiClient, resources: list[Resource], names: tuple[str, ...],
                         *, ns: str | None, selector: str | None, field_selector: str | None,
                         echo: Echo) -> tuple[list[dict], int]:
    items, code = [], 0
    for res in resources:
        if names:
            for name in names:
                try:
                    items.append(_typed(res, await client.get(
                        res.api_version, res.kind, name,
                        namespace=ns if res.namespaced else None)))
                except ApiError as exc:
                    echo(error_line(exc), err=True)
                    code = 1
            continue
        async for obj in client.list_all(res.api_version, res.kind,
                                         namespace=ns if res.namespaced else None,
                                         label_selector=selector,
                                         field_selector=field_selector):
            items.append(_typed(res, obj))
    return items, code


def _print_objects(items: list[dict], *, output: str, single: bool, echo: Echo) -> None:
    if output == "name":
        for obj in items:
            res_name = _type_name_of(obj)
            echo(f"{res_name}/{obj['metadata']['name']}")
        return
    if single and not items:
        return  # its error is printed already
    doc: Any = items[0] if single else {"apiVersion": "v1", "kind": "List", "items": items,
                                        "metadata": {"resourceVersion": ""}}
    if output == "json":
        echo(json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False))
    else:
        echo(yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, width=1 << 30,
                            allow_unicode=True).rstrip("\n"))


async def _get_json(client: ApiClient, path: str, query: dict[str, str], *,
                    accept: str) -> dict:
    resp = await client.transport.request(Request(
        method="GET", path=path, query=dict(query),
        headers={"accept": f"{accept},application/json", "user-agent": "kubemu-cli"}))
    try:
        body = orjson.loads(resp.body) if resp.body else {}
    except orjson.JSONDecodeError:
        body = {"message": resp.body.decode(errors="replace").strip()[:300]}
    if not 200 <= resp.status < 300:
        raise error_from_status(body if body.get("kind") == "Status" else
                                {"code": resp.status, "message": body.get("message")
                                 or f"the server answered {resp.status}"}, code=resp.status)
    return body


async def _discover_custom(client: ApiClient) -> list[Resource]:
    """Resources of the groups the built-in registry does not know, from discovery."""
    known = {r.group for r in client.registry.resources()}
    found: list[Resource] = []
    for group in (await client.raw("GET", "/apis")).get("groups") or ():
        name = group.get("name", "")
        version = (group.get("preferredVersion") or {}).get("version")
        if name in known or not version:
            continue
        listing = await client.raw("GET", f"/apis/{name}/{version}")
        for entry in listing.get("resources") or ():
            if "/" in entry.get("name", ""):
                continue
            found.append(Resource(
                group=name, version=version, kind=entry["kind"], plural=entry["name"],
                singular=entry.get("singularName") or entry["kind"].lower(),
                namespaced=bool(entry.get("namespaced")),
                short_names=tuple(entry.get("shortNames") or ()),
                categories=tuple(entry.get("categories") or ()), custom=True))
    return found


async def _expand(client: ApiClient, arg: str) -> list[Resource]:
    """One resource, or every resource of a category (`all`)."""
    try:
        return [await resolve_kind(client, arg)]
    except CliError:
        members = [r for r in client.registry.resources() if arg.lower() in r.categories]
        if not members:
            raise
        return members


def _match(resources: list[Resource], wanted: str) -> Resource | None:
    """kubectl's order: `resource`, then `resource.group`, then `resource.version.group`."""
    token, _, qualifier = wanted.partition(".")
    for r in resources:
        if token not in (r.plural, r.singular, r.kind.lower(), *r.short_names):
            continue
        if qualifier in ("", r.group, f"{r.version}.{r.group}".rstrip(".")):
            return r
    return None


# ---- small helpers ------------------------------------------------------------------------

def _typed(res: Resource, obj: dict) -> dict:
    return {"apiVersion": res.api_version, "kind": res.kind, **obj}


def _type_name(res: Resource) -> str:
    """`pod`, `deployment.apps`: how kubectl names a kind in its messages."""
    return f"{res.kind.lower()}.{res.group}" if res.group else res.kind.lower()


def _type_name_of(obj: dict) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()


def _nothing_found(resources: list[Resource], ns: str | None) -> str:
    where = f" in {ns} namespace" if ns and all(r.namespaced for r in resources) else ""
    return f"No resources found{where}."


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text.split("\n", 1)[0].split("\r", 1)[0]


def _align(rows: list[list[str]]) -> list[str]:
    """Go tabwriter(minwidth=6, padding=3): every column but the last padded to its widest."""
    if not rows:
        return []
    count = max(len(r) for r in rows)
    widths = [max(6, max((len(r[i]) for r in rows if i < len(r)), default=0) + 3)
              for i in range(count - 1)]
    return ["".join(cell.ljust(widths[i]) if i < count - 1 else cell
                    for i, cell in enumerate(row)) for row in rows]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
