"""Resolver fuzz: random bytes and mutated valid queries (flipped bytes, truncation, absurd
counts, compression pointers to themselves / forward / in loops, trailing garbage) never raise;
every answer is silence or a response with the query's id; and a valid query asked right
after still gets the right answer."""

from __future__ import annotations

from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubemu.dns.records import Records
from kubemu.dns.resolver import Forward, Resolver

WEB = "web.default.svc.cluster.local."


def _records() -> Records:
    records = Records()
    records.update_service({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "web", "namespace": "default"},
                            "spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
                                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    records.update_service({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "ext", "namespace": "default"},
                            "spec": {"type": "ExternalName", "externalName": "example.com"}})
    return records


def _query(name: str, qtype: str, *, edns: int | None = None) -> bytes:
    q = DNSRecord(DNSHeader(id=0xBEEF, rd=1), q=DNSQuestion(name, getattr(QTYPE, qtype)))
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    return bytes(q.pack())


SEEDS = [_query(WEB, "A"), _query(WEB, "AAAA", edns=1232), _query("_http._tcp." + WEB, "SRV"),
         _query("nope.default.svc.cluster.local.", "TXT", edns=4096),
         _query("ext.default.svc.cluster.local.", "A"), _query("example.com.", "MX"),
         _query("5.0.96.10.in-addr.arpa.", "PTR", edns=512)]
VALID = _query(WEB, "A")
RESOLVER = Resolver(_records())
EXPECTED = RESOLVER.answer(VALID)


def _pointer(target: int) -> bytes:
    return bytes([0xC0 | (target >> 8) & 0x3F, target & 0xFF])


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "counts", "self", "forward", "loop",
                                     "garbage", "label"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "counts" and len(data) >= 12:
            index = draw(st.sampled_from([4, 6, 8, 10]))
            data[index:index + 2] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        elif kind == "self":    # a name that is a pointer to itself
            data[12:] = _pointer(12) + bytes(data[12:])
        elif kind == "forward":  # a pointer past the end, or to a later offset
            data[position:position] = _pointer(draw(st.integers(position, position + 600)))
        elif kind == "loop":    # two pointers pointing at each other
            data[12:] = _pointer(14) + _pointer(12) + bytes(data[12:])
        elif kind == "garbage":
            data += draw(st.binary(min_size=1, max_size=40))
        elif kind == "label":   # an oversized or reserved-bit label length byte
            data[position:position] = bytes([draw(st.integers(64, 255))])
    return bytes(data)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=300), mutated()), tcp=st.booleans())
def test_any_input_gets_silence_or_a_response_with_its_id_and_valid_queries_still_work(raw, tcp):
    out = RESOLVER.answer(raw, tcp=tcp)
    event("forward" if isinstance(out, Forward) else "silence" if out is None
          else f"rcode {out[3] & 0xF}")
    if isinstance(out, Forward):
        assert out.query.header.id == int.from_bytes(raw[:2], "big")
        out = RESOLVER.forwarded(out, None, 2)
    if out is not None:
        assert isinstance(out, bytes)
        response = DNSRecord.parse(out)
        assert response.header.qr and response.header.id == int.from_bytes(raw[:2], "big")
        assert len(out) <= (65535 if tcp else 4096)
    assert RESOLVER.answer(VALID) == EXPECTED
    answer = DNSRecord.parse(EXPECTED)
    assert [str(rr.rdata) for rr in answer.rr] == ["10.96.0.5"]
