"""Label and field selectors: upstream query syntax, matching, canonical form and errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.field_selectors import field_value, parse_field_selector, supported_fields
from kubemu.cluster.api.selectors import EVERYTHING, parse_label_selector, selector_from_dict

# ---- label selectors ---------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    pytest.param("", "", id="empty"),
    pytest.param("app=web", "app=web", id="equals"),
    pytest.param("app==web", "app=web", id="double-equals-reads-as-equals"),
    pytest.param("tier!=db", "tier!=db", id="not-equals"),
    pytest.param("env in (prod,dev)", "env in (dev,prod)", id="in-values-sorted"),
    pytest.param("env notin (b, a, b)", "env notin (a,b)", id="notin-values-distinct"),
    pytest.param("canary", "canary", id="exists"),
    pytest.param("!canary", "!canary", id="does-not-exist"),
    pytest.param("  z = 1 ,  a in(x) , !m ", "a in (x),!m,z=1", id="spaces-and-key-order"),
    pytest.param("example.com/role=db", "example.com/role=db", id="prefixed-key"),
    pytest.param("app=", "app=", id="empty-value"),
    pytest.param("a in (,x)", "a in (,x)", id="empty-value-in-set"),
    pytest.param("a in (,)", "a in (,)", id="lone-empty-value-round-trips"),
    pytest.param("replicas>2,age<10", "age<10,replicas>2", id="gt-lt"),
])
def test_parse_label_selector_gives_canonical_string(text: str, canonical: str) -> None:
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert parse_label_selector(str(selector)) == selector


@pytest.mark.parametrize("text, labels, matched", [
    pytest.param("", None, True, id="empty-matches-everything"),
    pytest.param("app=web", {"app": "web"}, True, id="equals-hit"),
    pytest.param("app=web", {"app": "db"}, False, id="equals-miss"),
    pytest.param("app=web", {}, False, id="equals-needs-key"),
    pytest.param("app!=web", {}, True, id="not-equals-matches-missing-key"),
    pytest.param("app!=web", {"app": "web"}, False, id="not-equals-miss"),
    pytest.param("env in (a,b)", {"env": "b"}, True, id="in-hit"),
    pytest.param("env in (a,b)", {}, False, id="in-needs-key"),
    pytest.param("env notin (a,b)", {}, True, id="notin-matches-missing-key"),
    pytest.param("env notin (a,b)", {"env": "a"}, False, id="notin-miss"),
    pytest.param("canary", {"canary": ""}, True, id="exists-with-empty-value"),
    pytest.param("!canary", {"canary": "x"}, False, id="does-not-exist-miss"),
    pytest.param("app=", {"app": ""}, True, id="empty-value-matches-empty-label"),
    pytest.param("app=web,tier=fe", {"app": "web", "tier": "be"}, False, id="and-of-terms"),
    pytest.param("n>2", {"n": "3"}, True, id="gt-hit"),
    pytest.param("n>2", {"n": "x"}, False, id="gt-non-integer-label"),
])
def test_label_selector_matches(text: str, labels: dict | None, matched: bool) -> None:
    assert parse_label_selector(text).matches(labels) is matched


@pytest.mark.parametrize("text, message", [
    pytest.param("a in ()", "values set can't be empty", id="empty-set"),
    pytest.param("a=b c", "found 'c', expected: ',' or 'end of string'", id="missing-comma"),
    pytest.param("a b", "found 'b', expected: =", id="missing-operator"),
    pytest.param("!a=b", "found '='", id="negation-takes-no-value"),
    pytest.param("a in (x", "expected: ',' or ')'", id="unclosed-set"),
    pytest.param("a in x", "expected: '('", id="set-without-parens"),
    pytest.param("a=b=c", "found '='", id="two-equals"),
    pytest.param("a=b,", "identifier after ','", id="trailing-comma"),
    pytest.param(",a", "expected: identifier", id="leading-comma"),
    pytest.param("-a=b", 'key: Invalid value: "-a"', id="key-starts-with-dash"),
    pytest.param("a/b/c=d", "a qualified name must consist", id="two-slashes"),
    pytest.param("Example.com/a=b", "prefix part a lowercase RFC 1123", id="uppercase-prefix"),
    pytest.param("k" * 64 + "=v", "no more than 63 characters", id="long-key"),
    pytest.param("a=" + "v" * 64, "no more than 63 characters", id="long-value"),
    pytest.param("a=b_", "a valid label must be", id="value-ends-badly"),
    pytest.param("n>x", "must be an integer", id="gt-needs-integer"),
])
def test_bad_label_selector_is_bad_request(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_label_selector(text)
    assert err.value.message.startswith("unable to parse requirement: ")
    assert message in err.value.message
    assert err.value.code == 400


@pytest.mark.parametrize("sel, canonical", [
    pytest.param(None, "", id="none-matches-everything"),
    pytest.param({}, "", id="empty-matches-everything"),
    pytest.param({"matchLabels": {"app": "web", "tier": "fe"}}, "app=web,tier=fe", id="labels"),
    pytest.param({"matchExpressions": [
        {"key": "env", "operator": "In", "values": ["b", "a"]},
        {"key": "zone", "operator": "NotIn", "values": ["z"]},
        {"key": "gpu", "operator": "Exists"},
        {"key": "spot", "operator": "DoesNotExist", "values": []}]},
        "env in (a,b),gpu,!spot,zone notin (z)", id="expressions"),
    pytest.param({"matchLabels": {"app": "web"},
                  "matchExpressions": [{"key": "app", "operator": "Exists"}]},
                 "app=web,app", id="labels-and-expressions"),
])
def test_selector_from_dict(sel: dict | None, canonical: str) -> None:
    selector = selector_from_dict(sel)
    assert str(selector) == canonical
    assert selector.empty is (canonical == "")


def test_selector_from_dict_none_is_everything() -> None:
    assert selector_from_dict(None) == EVERYTHING
    assert selector_from_dict({}).matches({"any": "thing"})


@pytest.mark.parametrize("sel", [
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
                 id="unknown-operator"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
                 id="in-without-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
                 id="exists-with-values"),
    pytest.param({"matchLabels": {"a": "bad value"}}, id="bad-label-value"),
    pytest.param({"matchLabels": {"bad key": "v"}}, id="bad-key"),
])
def test_invalid_label_selector_dict_raises_value_error(sel: dict) -> None:
    with pytest.raises(ValueError):
        selector_from_dict(sel)


_KEYS = st.sampled_from(["app", "tier", "example.com/role", "a.b-c_d"])
_VALUES = st.sampled_from(["", "web", "db", "v1.2", "x_y"])
_SETS = st.lists(_VALUES, min_size=1).map(lambda vs: ",".join(vs) if vs != [""] else ",")
_TERMS = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _KEYS, _VALUES),
    st.builds(lambda k, v: f"{k}!={v}", _KEYS, _VALUES),
    st.builds(lambda k, vs: f"{k} in ({vs})", _KEYS, _SETS),
    st.builds(lambda k, vs: f"{k} notin ({vs})", _KEYS, _SETS),
    _KEYS, st.builds(lambda k: f"!{k}", _KEYS))


@given(terms=st.lists(_TERMS, max_size=5),
       labels=st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_canonical_form_parses_back_to_an_equal_selector(terms: list[str],
                                                         labels: dict[str, str]) -> None:
    selector = parse_label_selector(",".join(terms))
    again = parse_label_selector(str(selector))
    assert again == selector
    assert again.matches(labels) == selector.matches(labels)


# ---- field selectors ---------------------------------------------------------------------

_POD = {"metadata": {"name": "web-1", "namespace": "prod"},
        "spec": {"nodeName": "node-a", "restartPolicy": "Always", "hostNetwork": True},
        "status": {"phase": "Running", "podIP": "10.244.1.5",
                   "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}]}}
_PENDING = {"metadata": {"name": "web-2", "namespace": "prod"}, "spec": {},
            "status": {"phase": "Pending"}}
_EVENT = {"metadata": {"name": "e1", "namespace": "prod"}, "reason": "Scheduled",
          "type": "Normal", "source": {"component": "default-scheduler"},
          "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "prod"}}


@pytest.mark.parametrize("kind, text, obj, matched", [
    pytest.param("Pod", "metadata.name=web-1", _POD, True, id="name"),
    pytest.param("Pod", "metadata.namespace!=prod", _POD, False, id="namespace-not-equal"),
    pytest.param("Pod", "spec.nodeName=node-a", _POD, True, id="node-name"),
    pytest.param("Pod", "spec.nodeName=", _PENDING, True, id="unscheduled-pod-has-empty-node"),
    pytest.param("Pod", "spec.nodeName=", _POD, False, id="scheduled-pod-not-unscheduled"),
    pytest.param("Pod", "spec.nodeName!=", _POD, True, id="scheduled-pods"),
    pytest.param("Pod", "status.phase!=Running,status.phase!=Succeeded", _PENDING, True,
                 id="not-running-nor-succeeded"),
    pytest.param("Pod", "spec.hostNetwork=true", _POD, True, id="boolean-true"),
    pytest.param("Pod", "spec.hostNetwork=false", _PENDING, True, id="missing-boolean-false"),
    pytest.param("Pod", "status.podIP=10.244.1.5", _POD, True, id="pod-ip"),
    pytest.param("Pod", r"status.podIPs=10.244.1.5\,fd00::5", _POD, True,
                 id="pod-ips-comma-joined"),
    pytest.param("Pod", "spec.nodeName==node-a,metadata.name=web-1", _POD, True,
                 id="double-equals-and-conjunction"),
    pytest.param("Node", "spec.unschedulable=false", {"spec": {}}, True,
                 id="node-schedulable-by-default"),
    pytest.param("Node", "spec.unschedulable=true", {"spec": {"unschedulable": True}}, True,
                 id="cordoned-node"),
    pytest.param("Secret", "type=kubernetes.io/tls", {"type": "kubernetes.io/tls"}, True,
                 id="secret-type"),
    pytest.param("Namespace", "status.phase=Terminating", {"status": {"phase": "Active"}},
                 False, id="namespace-phase"),
    pytest.param("Event", "involvedObject.name=web-1,involvedObject.kind=Pod", _EVENT, True,
                 id="event-involved-object"),
    pytest.param("Event", "source=default-scheduler,reason=Scheduled,type=Normal", _EVENT,
                 True, id="event-source-reason-type"),
    pytest.param("Event", "involvedObject.uid=", _EVENT, True, id="event-missing-uid"),
    pytest.param("Event", "reportingComponent=kubelet,involvedObject.name=x",
                 {"reportingController": "kubelet", "regarding": {"name": "x"}}, True,
                 id="events-k8s-io-shape"),
    pytest.param("ReplicaSet", "status.replicas=0", {"status": {}}, True,
                 id="replicas-missing-is-zero"),
    pytest.param("Job", "status.successful=3", {"status": {"succeeded": 3}}, True,
                 id="job-successful-reads-succeeded"),
    pytest.param("ConfigMap", "", {"metadata": {}}, True, id="empty-selects-everything"),
    pytest.param("ConfigMap", r"metadata.name=a\=b\\c", {"metadata": {"name": "a=b\\c"}},
                 True, id="escaped-value"),
])
def test_field_selector_matches(kind: str, text: str, obj: dict, matched: bool) -> None:
    assert parse_field_selector(text, kind).matches(obj) is matched


@pytest.mark.parametrize("kind, text, message", [
    pytest.param("Pod", "status.hostIP=1.2.3.4", "field label not supported: status.hostIP",
                 id="unsupported-pod-field"),
    pytest.param("ConfigMap", "spec.nodeName=a", "field label not supported: spec.nodeName",
                 id="pod-field-on-other-kind"),
    pytest.param("Pod", "metadata.name", "invalid selector", id="no-operator"),
    pytest.param("Pod", r"metadata.name=a\x", "invalid escape sequence", id="bad-escape"),
    pytest.param("Pod", "metadata.name=a=b", "unescaped '='", id="unescaped-equals"),
])
def test_bad_field_selector_is_bad_request(kind: str, text: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_field_selector(text, kind)
    assert message in err.value.message


def test_field_selector_canonical_form_and_exact_match() -> None:
    selector = parse_field_selector(" status.phase!=Failed , spec.nodeName==n\\,1", "Pod")
    assert str(selector) == r"spec.nodeName=n\,1,status.phase!=Failed"
    assert parse_field_selector(str(selector), "Pod") == selector
    assert selector.requires_exact_match("spec.nodeName") == "n,1"
    assert selector.requires_exact_match("status.phase") is None
    assert not selector.empty and parse_field_selector("", "Pod").empty


def test_custom_resource_selectable_fields_are_read_by_path() -> None:
    selector = parse_field_selector("spec.color=red,spec.size=3", "Widget",
                                    extra=("spec.color", "spec.size"))
    assert selector.matches({"spec": {"color": "red", "size": 3}})
    assert not selector.matches({"spec": {"color": "blue", "size": 3}})


def test_supported_fields_and_field_value() -> None:
    assert {"metadata.name", "metadata.namespace", "spec.nodeName",
            "status.nominatedNodeName"} <= supported_fields("Pod")
    assert supported_fields("ConfigMap") == {"metadata.name", "metadata.namespace"}
    assert field_value(_POD, "Pod", "spec.restartPolicy") == "Always"
    assert field_value(_PENDING, "Pod", "status.podIP") == ""
    assert field_value({"status": {"replicas": 2}}, "ReplicaSet", "status.replicas") == "2"
