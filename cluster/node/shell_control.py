"""Control flow of the container shell evaluator: how a script stops, loops or blocks.

Evaluation unwinds with exceptions: `Exit` (the shell exits), `Forever` (the script blocks
for good: in sleep infinity, tail -f, wait, a server program, or a loop that never ends),
`PeriodicFound` (an infinite loop whose iterations repeat exactly, summarised as a
`Periodic`) and `Jump` (break/continue). Arithmetic expansion (`$((...))`) lives here too:
integers and variables only, evaluated over Python's `ast` without `eval`.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Exit", "Forever", "PeriodicFound", "Jump", "Periodic", "arith", "to_int"]


@dataclass(frozen=True)
class Periodic:
    """Output repeating forever: `lines`/`files` offsets are relative to each iteration."""
    start: float
    period: float
    lines: tuple[tuple[float, str], ...]
    files: tuple[tuple[float, str, bool], ...]



class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class Forever(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class PeriodicFound(Exception):
    def __init__(self, periodic: Periodic) -> None:
        self.periodic = periodic


class Jump(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        self.kind, self.levels = kind, levels



_ARITH_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Mod: lambda a, b: int(math.fmod(a, b)) if b else 0,
              ast.Div: lambda a, b: int(a / b) if b else 0,
              ast.FloorDiv: lambda a, b: int(a / b) if b else 0, ast.Pow: operator.pow,
              ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
              ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}


def arith(expr: str, variables: Mapping[str, str]) -> int:
    """`$(( ))` over integers and variables; 0 for anything it cannot evaluate."""
    text = expr.replace("&&", " and ").replace("||", " or ").replace("$", "")
    try:
        tree = ast.parse(text.strip() or "0", mode="eval")
        return int(_arith_node(tree.body, variables))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        return 0


def _arith_node(node: ast.AST, variables: Mapping[str, str]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return to_int(variables.get(node.id, "0"), 0)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _arith_node(node.operand, variables)
        return -value if isinstance(node.op, ast.USub) else (
            int(not value) if isinstance(node.op, ast.Not) else value)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_OPS:
        return int(_ARITH_OPS[type(node.op)](_arith_node(node.left, variables),
                                             _arith_node(node.right, variables)))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _ARITH_OPS:
        return int(_ARITH_OPS[type(node.ops[0])](_arith_node(node.left, variables),
                                                 _arith_node(node.comparators[0], variables)))
    if isinstance(node, ast.BoolOp):
        values = [_arith_node(v, variables) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    raise ValueError("unsupported arithmetic")


def to_int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
