"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386), checked against the RFCs' examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.patch import json_copy, json_equal, json_patch, merge_patch

# ---- RFC 6902 Appendix A -----------------------------------------------------------------


@pytest.mark.parametrize("doc, ops, want", [
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
                 {"baz": "qux", "foo": "bar"}, id="A.1-add-object-member"),
    pytest.param({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
                 {"foo": ["bar", "qux", "baz"]}, id="A.2-add-array-element"),
    pytest.param({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}],
                 {"foo": "bar"}, id="A.3-remove-object-member"),
    pytest.param({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
                 {"foo": ["bar", "baz"]}, id="A.4-remove-array-element"),
    pytest.param({"baz": "qux", "foo": "bar"},
                 [{"op": "replace", "path": "/baz", "value": "boo"}],
                 {"baz": "boo", "foo": "bar"}, id="A.5-replace-value"),
    pytest.param({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                 [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
                 {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
                 id="A.6-move-value"),
    pytest.param({"foo": ["all", "grass", "cows", "eat"]},
                 [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
                 {"foo": ["all", "cows", "eat", "grass"]}, id="A.7-move-array-element"),
    pytest.param({"baz": "qux", "foo": ["a", 2, "c"]},
                 [{"op": "test", "path": "/baz", "value": "qux"},
                  {"op": "test", "path": "/foo/1", "value": 2}],
                 {"baz": "qux", "foo": ["a", 2, "c"]}, id="A.8-test-success"),
    pytest.param({"foo": "bar"},
                 [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
                 {"foo": "bar", "child": {"grandchild": {}}}, id="A.10-add-nested-object"),
    pytest.param({"foo": "bar"},
                 [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
                 {"foo": "bar", "baz": "qux"}, id="A.11-ignore-unrecognized-members"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}],
                 {"/": 9, "~1": 10}, id="A.14-escape-ordering"),
    pytest.param({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
                 {"foo": ["bar", ["abc", "def"]]}, id="A.16-add-array-value"),
])
def test_rfc6902_appendix_examples(doc: Any, ops: list, want: Any) -> None:
    assert json_patch(doc, ops) == want


@pytest.mark.parametrize("doc, ops, message", [
    pytest.param({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
                 "test operation does not apply", id="A.9-test-error"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
                 "add operation does not apply: doc is missing path: /baz/bat",
                 id="A.12-add-to-nonexistent-target"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
                 "test operation does not apply", id="A.15-string-is-not-number"),
])
def test_rfc6902_appendix_errors(doc: Any, ops: list, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        json_patch(doc, ops)
    assert message in err.value.message


@pytest.mark.parametrize("doc, ops, want", [
    pytest.param({"a/b": {"m~n": 1}}, [{"op": "replace", "path": "/a~1b/m~0n", "value": 2}],
                 {"a/b": {"m~n": 2}}, id="pointer-escapes"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1],
                 id="replace-whole-document"),
    pytest.param({"a": [1, 2]}, [{"op": "add", "path": "/a/2", "value": 3}], {"a": [1, 2, 3]},
                 id="add-at-array-end-index"),
    pytest.param({"a": {"b": [1]}}, [{"op": "copy", "from": "/a", "path": "/c"},
                                     {"op": "add", "path": "/c/b/-", "value": 2}],
                 {"a": {"b": [1]}, "c": {"b": [1, 2]}}, id="copy-is-deep"),
    pytest.param({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1},
                 id="move-onto-itself"),
    pytest.param({"metadata": {"labels": {"app": "web"}}},
                 [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
                  {"op": "remove", "path": "/metadata/labels/app"}],
                 {"metadata": {"labels": {"tier": "fe"}}}, id="kubectl-label-edit"),
    pytest.param({"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None},
                 id="test-null-value"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], {"a": 1},
                 id="test-int-equals-float"),
])
def test_json_patch(doc: Any, ops: list, want: Any) -> None:
    assert json_patch(doc, ops) == want


@pytest.mark.parametrize("doc, ops, message", [
    pytest.param({}, [{"op": "replace", "path": "/spec/foo", "value": 1}],
                 "jsonpatch replace operation does not apply: doc is missing key: /spec/foo",
                 id="replace-missing-key"),
    pytest.param({"a": 1}, [{"op": "remove", "path": "/b"}],
                 "remove operation does not apply: doc is missing key: /b", id="remove-missing"),
    pytest.param({"a": [1]}, [{"op": "add", "path": "/a/2", "value": 0}],
                 "index out of range: /a/2", id="add-past-array-end"),
    pytest.param({"a": [1, 2]}, [{"op": "remove", "path": "/a/01"}], "missing key",
                 id="leading-zero-index"),
    pytest.param({"a": [1]}, [{"op": "remove", "path": "/a/-"}], "missing key",
                 id="dash-only-for-add"),
    pytest.param({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}],
                 "into its own child", id="move-into-own-child"),
    pytest.param({}, [{"op": "frob", "path": "/a"}], 'unknown op "frob"', id="unknown-op"),
    pytest.param({}, [{"op": "add", "path": "/a"}], 'missing "value"', id="add-without-value"),
    pytest.param({}, [{"op": "add", "value": 1}], 'missing "path"', id="op-without-path"),
    pytest.param({}, [{"op": "add", "path": "a", "value": 1}], 'must start with "/"',
                 id="relative-pointer"),
    pytest.param({}, [["op"]], "is not an object", id="op-not-object"),
    pytest.param({}, {"op": "add"}, "must be a list", id="patch-not-list"),
    pytest.param({"a": True}, [{"op": "test", "path": "/a", "value": 1}],
                 "test operation does not apply", id="true-is-not-one"),
])
def test_bad_json_patch_is_bad_request(doc: Any, ops: Any, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        json_patch(doc, ops)
    assert message in err.value.message


def test_json_patch_is_all_or_nothing_and_never_mutates() -> None:
    doc = {"spec": {"replicas": 1, "ports": [80]}}
    before = copy.deepcopy(doc)
    with pytest.raises(BadRequest):
        json_patch(doc, [{"op": "replace", "path": "/spec/replicas", "value": 3},
                         {"op": "add", "path": "/spec/ports/-", "value": 443},
                         {"op": "test", "path": "/spec/replicas", "value": 1}])
    assert doc == before
    value = {"x": [1]}
    out = json_patch(doc, [{"op": "add", "path": "/extra", "value": value}])
    out["extra"]["x"].append(2)
    assert value == {"x": [1]} and doc == before


# ---- RFC 7386 section 3 ------------------------------------------------------------------


@pytest.mark.parametrize("doc, patch, want", [
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="1-replace-member"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="2-add-member"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="3-null-deletes"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="4-null-deletes-one"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="5-scalar-replaces-list"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="6-list-replaces-scalar"),
    pytest.param({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}},
                 id="7-nested-merge"),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="8-lists-replace"),
    pytest.param(["a", "b"], ["c", "d"], ["c", "d"], id="9-list-doc"),
    pytest.param({"a": "b"}, ["c"], ["c"], id="10-list-patch-replaces-object"),
    pytest.param({"a": "foo"}, None, None, id="11-null-patch"),
    pytest.param({"a": "foo"}, "bar", "bar", id="12-scalar-patch"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="13-existing-null-kept"),
    pytest.param([1, 2], {"a": "b", "c": None}, {"a": "b"}, id="14-object-patch-on-list"),
    pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}},
                 id="15-nulls-in-new-objects-dropped"),
])
def test_rfc7386_examples(doc: Any, patch: Any, want: Any) -> None:
    assert merge_patch(doc, patch) == want


def test_merge_patch_never_shares_or_mutates() -> None:
    doc = {"metadata": {"labels": {"app": "web"}}, "spec": {"ports": [80]}}
    patch = {"metadata": {"labels": {"tier": "fe"}}, "spec": {"ports": [443]}}
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    out = merge_patch(doc, patch)
    assert out == {"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {"ports": [443]}}
    out["spec"]["ports"].append(1)
    out["metadata"]["labels"]["x"] = "y"
    assert doc == before and patch == patch_before


@pytest.mark.parametrize("a, b, equal", [
    pytest.param(True, 1, False, id="bool-is-not-int"),
    pytest.param(1, 1.0, True, id="int-equals-float"),
    pytest.param({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True, id="nested"),
    pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="extra-key"),
    pytest.param([1, 2], [2, 1], False, id="order-matters"),
    pytest.param("1", 1, False, id="string-is-not-number"),
])
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


# ---- properties --------------------------------------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12)
_DOCS = st.dictionaries(st.text(max_size=3), _JSON, max_size=4)


def _pointers(value: Any, prefix: str = "") -> list[str]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            token = key.replace("~", "~0").replace("/", "~1")
            out += _pointers(child, f"{prefix}/{token}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _pointers(child, f"{prefix}/{index}")
    return out


def _at(value: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        value = value[int(token)] if isinstance(value, list) else value[token]
    return value


@given(doc=_DOCS)
def test_merge_patch_with_empty_patch_is_identity(doc: dict) -> None:
    assert merge_patch(doc, {}) == doc


@given(doc=_DOCS)
def test_json_patch_of_only_tests_leaves_doc_equal(doc: dict) -> None:
    before = json_copy(doc)
    ops = [{"op": "test", "path": p, "value": json_copy(_at(doc, p))} for p in _pointers(doc)]
    assert json_patch(doc, ops) == doc
    assert doc == before


@given(doc=_DOCS, patch=_DOCS)
def test_merge_patch_is_idempotent_and_pure(doc: dict, patch: dict) -> None:
    before, patch_before = json_copy(doc), json_copy(patch)
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once
    assert doc == before and patch == patch_before
