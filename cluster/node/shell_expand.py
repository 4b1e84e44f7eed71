"""Word expansion in the container shell: variables, command substitution, arithmetic.

A parsed word (a tuple of `Part`s) becomes fields when a command runs, with the variables
of that moment. Quoted parts and literals join the current field; unquoted expansions are
split on whitespace (field splitting), and a word made only of empty unquoted expansions
vanishes, as in POSIX sh. No pathname expansion (globbing) is done. A command substitution
runs in a subshell (its variable changes are dropped) but its time passes, so `$(sleep 5)`
takes five seconds; unknown programs inside it print nothing and succeed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubemu.cluster.node.shell_control import Exit, arith
from kubemu.cluster.node.shell_lex import Part, Word

if TYPE_CHECKING:
    from kubemu.cluster.node.shell_eval import Evaluator

__all__ = ["expand", "expand_one"]


def expand(ev: Evaluator, word: Word) -> list[str]:
    """The fields of `word`."""
    fields: list[str] = [""]
    produced = False
    for part in word:
        value = _part(ev, part)
        if part.kind == "lit" or part.quoted:
            fields[-1] += value
            produced = True
            continue
        pieces = value.split()
        if pieces:
            fields[-1] += pieces[0]
            fields.extend(pieces[1:])
            produced = True
    return fields if produced else []


def expand_one(ev: Evaluator, word: Word) -> str:
    """`word` as one string (assignments, redirection targets)."""
    return "".join(_part(ev, p) for p in word)


def _part(ev: Evaluator, part: Part) -> str:
    if part.kind == "lit":
        return part.text
    if part.kind == "var":
        value = _variable(ev, part.text)
        if not value and part.default is not None:
            return expand_one(ev, part.default)
        return value
    if part.kind == "arith":
        return str(arith(part.text, ev.vars))
    assert part.node is not None
    sink: list[str] = []
    ev.out.append(sink)
    ev.subst_depth += 1
    saved = dict(ev.vars)
    try:
        ev.run_seq(part.node)
    except Exit as e:
        ev.status = e.code
    finally:
        ev.out.pop()
        ev.subst_depth -= 1
        ev.vars = saved  # a command substitution runs in a subshell
    return "".join(sink).rstrip("\n")


def _variable(ev: Evaluator, name: str) -> str:
    if name == "?":
        return str(ev.status)
    if name == "$":
        return "1"
    if name == "#":
        return str(len(ev.positional) - 1)
    if name in ("@", "*"):
        return " ".join(ev.positional[1:])
    if name.isdigit():
        k = int(name)
        return ev.positional[k] if k < len(ev.positional) else ""
    if name == "RANDOM":
        return "4242"
    return ev.vars.get(name, "")
