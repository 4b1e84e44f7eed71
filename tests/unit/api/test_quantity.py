"""parse_quantity: suffixes, exponents, signs, JSON numbers and upstream's error messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubemu.cluster.api.quantity import (
    FORMAT_ERROR, SUFFIX_ERROR, QuantityError, milli_value, parse_quantity)


@pytest.mark.parametrize("text, expected", [
    pytest.param("0", Decimal(0), id="zero"),
    pytest.param("2", Decimal(2), id="plain-integer"),
    pytest.param("500m", Decimal("0.5"), id="milli"),
    pytest.param("100n", Decimal("1E-7"), id="nano"),
    pytest.param("250u", Decimal("0.00025"), id="micro"),
    pytest.param("1k", Decimal(1000), id="kilo"),
    pytest.param("1M", Decimal(10**6), id="mega"),
    pytest.param("2G", Decimal(2 * 10**9), id="giga"),
    pytest.param("1T", Decimal(10**12), id="tera"),
    pytest.param("1P", Decimal(10**15), id="peta"),
    pytest.param("1E", Decimal(10**18), id="exa-not-exponent"),
    pytest.param("128Ki", Decimal(128 * 1024), id="kibi"),
    pytest.param("64Mi", Decimal(64 * 1024**2), id="mebi"),
    pytest.param("1.5Gi", Decimal(1610612736), id="fractional-gibi"),
    pytest.param("1Ti", Decimal(1024**4), id="tebi"),
    pytest.param("1Pi", Decimal(1024**5), id="pebi"),
    pytest.param("1Ei", Decimal(1024**6), id="exbi"),
    pytest.param("1e3", Decimal(1000), id="exponent"),
    pytest.param("12E-1", Decimal("1.2"), id="negative-exponent"),
    pytest.param("1e+2", Decimal(100), id="signed-exponent"),
    pytest.param("-1.5", Decimal("-1.5"), id="negative"),
    pytest.param("+3", Decimal(3), id="explicit-plus"),
    pytest.param(".5", Decimal("0.5"), id="leading-dot"),
    pytest.param("1.", Decimal(1), id="trailing-dot"),
])
def test_parse_quantity_reads_every_suffix_form(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("value, expected", [
    pytest.param(3, Decimal(3), id="json-int"),
    pytest.param(0.25, Decimal("0.25"), id="json-float"),
    pytest.param(Decimal("1.5"), Decimal("1.5"), id="decimal"),
])
def test_parse_quantity_accepts_json_numbers(value, expected) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize("text, message", [
    pytest.param("", FORMAT_ERROR, id="empty"),
    pytest.param("abc", FORMAT_ERROR, id="letters"),
    pytest.param("1 Gi", FORMAT_ERROR, id="space"),
    pytest.param("Gi", FORMAT_ERROR, id="suffix-only"),
    pytest.param("1.2.3", FORMAT_ERROR, id="two-dots"),
    pytest.param("1Gb", FORMAT_ERROR, id="unknown-letters"),
    pytest.param("1KI", FORMAT_ERROR, id="capital-i-is-not-a-suffix-letter"),
    pytest.param("1ki", SUFFIX_ERROR, id="lowercase-kibi"),
    pytest.param("1Gi5", SUFFIX_ERROR, id="digits-after-binary"),
    pytest.param("1mm", SUFFIX_ERROR, id="double-suffix"),
    pytest.param(True, FORMAT_ERROR, id="bool"),
    pytest.param(float("nan"), FORMAT_ERROR, id="nan"),
])
def test_parse_quantity_rejects_with_upstream_message(text, message: str) -> None:
    with pytest.raises(QuantityError) as err:
        parse_quantity(text)
    assert str(err.value) == message


def test_format_error_quotes_upstream_regex() -> None:
    assert FORMAT_ERROR == ("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


@pytest.mark.parametrize("text, milli", [
    pytest.param("250m", 250, id="millicores"),
    pytest.param("1", 1000, id="one-core"),
    pytest.param("0.0001", 1, id="rounds-up"),
    pytest.param("1Ki", 1024000, id="binary"),
])
def test_milli_value_rounds_up_to_thousandths(text: str, milli: int) -> None:
    assert milli_value(text) == milli
