"""Resource quantities (`500m`, `128Mi`, `1e3`, `2`): parsed to exact `Decimal` values.

Kubernetes writes CPU, memory and storage amounts as quantities: a signed decimal number
followed by a binary suffix (Ki..Ei, powers of 1024), a decimal SI suffix (n, u, m, "", k, M, G,
T, P, E) or a decimal exponent (`e3`, `E-2`). kubemu parses them to `Decimal` so sums and
comparisons are exact (no float rounding in the scheduler's fit checks). Errors carry
upstream's messages, because validation reports them to users unchanged. JSON numbers (int or
float) are accepted as well, as the API accepts them.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["QuantityError", "parse_quantity", "milli_value", "FORMAT_ERROR", "SUFFIX_ERROR"]

FORMAT_ERROR = ("quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
SUFFIX_ERROR = "unable to parse quantity's suffix"


class QuantityError(ValueError):
    """A string that is not a quantity; `str(err)` is upstream's message."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity: `parse_quantity("1.5Gi") == 1610612736`."""
    if isinstance(value, bool):
        raise QuantityError(FORMAT_ERROR)
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(FORMAT_ERROR)
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise QuantityError(FORMAT_ERROR)
    m = _QUANTITY.match(value)
    if m is None:
        raise QuantityError(FORMAT_ERROR)
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    if not whole and not frac:
        raise QuantityError(FORMAT_ERROR)
    multiplier = _multiplier(suffix)
    try:
        number = Decimal(f"{whole or '0'}.{frac or '0'}")
    except InvalidOperation as e:  # pragma: no cover - the regex admits only digits
        raise QuantityError(FORMAT_ERROR) from e
    result = number * multiplier
    return -result if sign == "-" else result


def milli_value(value: str | int | float | Decimal) -> int:
    """The quantity in thousandths, rounded up (upstream's `MilliValue`): "250m" -> 250."""
    return math.ceil(parse_quantity(value) * 1000)


_QUANTITY = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)$")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
            "E": 18}


def _multiplier(suffix: str) -> Decimal:
    if suffix in _BINARY:
        return Decimal(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return Decimal(10) ** _DECIMAL[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        if re.fullmatch(r"[-+]?[0-9]+", exponent):
            return Decimal(10) ** int(exponent)
    raise QuantityError(SUFFIX_ERROR)
