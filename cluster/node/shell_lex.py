"""Tokens of the POSIX shell subset container commands are written in (`sh -c "..."`).

The lexer turns a script into words and operators. A word stays unexpanded: a tuple of
`Part`s -- literal text (quoted or not), a variable (`$X`, `${X}`, `${X:-default}` with the
default as parts), a command substitution (`$(...)` or backquotes, its text parsed by the
parser into `node`) or an arithmetic expansion (`$((...))`). Quoting is resolved here
(single, double, backslash), so the evaluator only needs to know which parts were quoted
(quoted expansions are not split into fields). Comments, line continuations and `N>`/`N>&`
redirection operators are handled here; here-documents raise `ParseError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ParseError", "Part", "Word", "Token", "tokenize", "OPERATORS", "REDIRECTS"]

OPERATORS = ("&&", "||", ";;", ">>", ">&", "<&", "&>", "<<", ";", "&", "|", "(", ")", ">", "<")
REDIRECTS = (">", ">>", "<", ">&", "<&", "&>")


class ParseError(ValueError):
    """A script outside the emulated subset."""


@dataclass(frozen=True)
class Part:
    """A piece of a word: kind "lit" (text), "var" (name in text; `default` for ${X:-y}),
    "cmd" (command substitution in `node`) or "arith" (expression in text)."""
    kind: str
    text: str
    quoted: bool = False
    node: Any = None  # the parsed Sequence of a "cmd" part
    default: tuple[Part, ...] | None = None


Word = tuple[Part, ...]


def tokenize(script: str) -> list[Token]:
    """Words ("word", parts, literal), operators ("op"), newlines ("nl"), then "eof"."""
    return _Lexer(script).tokens()


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op" | "nl" | "eof"
    value: object
    literal: str | None = None  # the plain text of an unquoted, expansion-free word


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        s = self.s
        while True:
            while self.i < len(s) and s[self.i] in " \t\r":
                self.i += 1
            if self.i < len(s) and s.startswith("\\\n", self.i):
                self.i += 2
                continue
            if self.i >= len(s):
                out.append(Token("eof", None))
                return out
            c = s[self.i]
            if c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
                continue
            if c == "\n":
                self.i += 1
                out.append(Token("nl", "\n"))
                continue
            op = next((o for o in OPERATORS if s.startswith(o, self.i)), None)
            if op is not None:
                if op == "<<":
                    raise ParseError("here-documents are not emulated")
                self.i += len(op)
                out.append(Token("op", op))
                continue
            start = self.i
            while self.i < len(s) and s[self.i].isdigit():
                self.i += 1
            if self.i > start and self.i < len(s) and s[self.i] in "<>":
                fd = s[start:self.i]
                op = next(o for o in OPERATORS if s.startswith(o, self.i))
                self.i += len(op)
                out.append(Token("op", fd + op))
                continue
            self.i = start
            parts, plain = self.word()
            out.append(Token("word", tuple(parts), plain))

    def word(self) -> tuple[list[Part], str | None]:
        s = self.s
        parts: list[Part] = []
        plain = True
        buf: list[str] = []

        def flush(quoted: bool = False) -> None:
            if buf:
                parts.append(Part("lit", "".join(buf), quoted=quoted))
                buf.clear()

        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n;&|()<>":
                break
            if c == "\\":
                plain = False
                if s.startswith("\\\n", self.i):
                    self.i += 2
                    continue
                flush()
                buf.append(s[self.i + 1:self.i + 2])
                flush(quoted=True)
                self.i += 2
            elif c == "'":
                plain = False
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise ParseError("unterminated quoted string")
                flush()
                parts.append(Part("lit", s[self.i + 1:end], quoted=True))
                self.i = end + 1
            elif c == '"':
                plain = False
                flush()
                self.i += 1
                parts.extend(self.double_quoted())
            elif c in "$`":
                flush()
                part = self.expansion(quoted=False)
                if part is None:
                    buf.append(c)
                    self.i += 1
                else:
                    plain = False
                    parts.append(part)
            else:
                buf.append(c)
                self.i += 1
        flush()
        literal = "".join(p.text for p in parts) if plain else None
        return parts, literal

    def double_quoted(self) -> list[Part]:
        s = self.s
        parts: list[Part] = []
        buf: list[str] = []
        while True:
            if self.i >= len(s):
                raise ParseError("unterminated quoted string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c in "$`":
                part = self.expansion(quoted=True)
                if part is None:
                    buf.append(c)
                    self.i += 1
                else:
                    if buf:
                        parts.append(Part("lit", "".join(buf), quoted=True))
                        buf.clear()
                    parts.append(part)
            else:
                buf.append(c)
                self.i += 1
        if buf or not parts:
            parts.append(Part("lit", "".join(buf), quoted=True))
        return parts

    def expansion(self, *, quoted: bool) -> Part | None:
        """The `$...` or backquote expansion at self.i, or None for a literal `$`."""
        s = self.s
        if s[self.i] == "`":
            end = s.find("`", self.i + 1)
            if end < 0:
                raise ParseError("unterminated backquote")
            inner = s[self.i + 1:end]
            self.i = end + 1
            return Part("cmd", inner, quoted=quoted)
        nxt = s[self.i + 1:self.i + 2]
        if s.startswith("$((", self.i):
            end = _matching(s, self.i + 2)
            if end + 1 >= len(s) or s[end + 1] != ")":
                raise ParseError("unterminated arithmetic expansion")
            expr = s[self.i + 3:end]
            self.i = end + 2
            return Part("arith", expr, quoted=quoted)
        if nxt == "(":
            end = _matching(s, self.i + 1)
            inner = s[self.i + 2:end]
            self.i = end + 1
            return Part("cmd", inner, quoted=quoted)
        if nxt == "{":
            end = s.find("}", self.i)
            if end < 0:
                raise ParseError("bad substitution")
            body = s[self.i + 2:end]
            self.i = end + 1
            name, sep, default = body.partition(":-")
            if not sep:
                name, sep, default = body.partition("-")
            sub = _Lexer(default)
            default_parts = tuple(sub.word()[0]) if sep else None
            return Part("var", name, quoted=quoted, default=default_parts)
        if nxt and (nxt.isalpha() or nxt == "_"):
            j = self.i + 1
            while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                j += 1
            name = s[self.i + 1:j]
            self.i = j
            return Part("var", name, quoted=quoted)
        if nxt and nxt in "?$#@*!0123456789-":
            self.i += 2
            return Part("var", nxt, quoted=quoted)
        return None


def _matching(s: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at `open_at`, skipping quoted text."""
    depth = 0
    i = open_at
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = s.find("'", i + 1)
            if i < 0:
                break
        elif c == '"':
            i += 1
            while i < len(s) and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ParseError("unterminated command substitution")
