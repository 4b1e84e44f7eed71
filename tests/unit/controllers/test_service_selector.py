"""A Service selects pods by its label map exactly as the equivalent LabelSelector would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubemu.cluster.controllers.endpointslice_util import service_matches_pod, service_selector

_keys = st.sampled_from(["app", "tier", "k8s.io/role", "x"])
_values = st.sampled_from(["", "web", "db", "v1"])
_labels = st.dictionaries(_keys, _values, max_size=4)


@given(selector=_labels, labels=_labels, same_namespace=st.booleans(),
       kind=st.sampled_from(["ClusterIP", "NodePort", "ExternalName"]))
def test_a_service_matches_a_pod_as_its_label_selector_does(selector, labels, same_namespace,
                                                             kind) -> None:
    service = {"metadata": {"name": "s", "namespace": "a"},
               "spec": {"type": kind, "selector": selector}}
    pod = {"metadata": {"name": "p", "namespace": "a" if same_namespace else "b",
                        "labels": labels}}
    built = service_selector(service)
    expected = built is not None and same_namespace and built.matches(labels)
    assert service_matches_pod(service, pod) == expected
