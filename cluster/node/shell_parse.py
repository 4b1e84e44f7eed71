"""Parsing container scripts into a small syntax tree (the shell subset kubemu emulates).

On top of `shell_lex` tokens: simple commands (assignments, words, redirections), pipelines,
`&&`/`||` lists, `;`/newline/`&` sequences, `while`/`until`/`for`/`if`, `{ ...; }` and
`( ... )`. Anything else (functions, `case`) raises `ParseError`; the caller then treats the
command as an unknown long-running program. Command substitutions inside words are parsed
here too, so a script either parses completely or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

from kubemu.cluster.node.shell_lex import REDIRECTS, ParseError, Part, Token, Word, tokenize

__all__ = ["ParseError", "Part", "Word", "Simple", "Pipeline", "AndOr", "Sequence", "Loop",
           "ForLoop", "If", "Group", "Node", "parse"]


@dataclass(frozen=True)
class Simple:
    words: tuple[Word, ...]
    assigns: tuple[tuple[str, Word], ...] = ()
    redirects: tuple[tuple[str, Word], ...] = ()


@dataclass(frozen=True)
class Pipeline:
    commands: tuple["Node", ...]
    negate: bool = False


@dataclass(frozen=True)
class AndOr:
    first: "Node"
    rest: tuple[tuple[str, "Node"], ...]


@dataclass(frozen=True)
class Sequence:
    items: tuple[tuple["Node", bool], ...]  # (node, runs in the background)


@dataclass(frozen=True)
class Loop:
    cond: Sequence
    body: Sequence
    until: bool = False


@dataclass(frozen=True)
class ForLoop:
    var: str
    words: tuple[Word, ...] | None  # None: "$@"
    body: Sequence


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Sequence, Sequence], ...]
    otherwise: Sequence | None


@dataclass(frozen=True)
class Group:
    body: Sequence
    subshell: bool = False


Node = Union[Simple, Pipeline, AndOr, Sequence, Loop, ForLoop, If, Group]

def parse(script: str) -> Sequence:
    """The syntax tree of a whole script."""
    parser = _Parser(tokenize(script))
    seq = parser.sequence(frozenset())
    if parser.peek() != ("eof", None):
        raise ParseError(f"syntax error near {parser.peek()[1]!r}")
    return seq


def _resolve(word: Word) -> Word:
    """The word with its command substitutions parsed."""
    out = []
    for part in word:
        if part.kind == "cmd" and part.node is None:
            part = replace(part, node=parse(part.text))
        if part.default is not None:
            part = replace(part, default=_resolve(part.default))
        out.append(part)
    return tuple(out)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, object]:
        t = self.toks[self.i]
        return (t.kind, t.literal if t.kind == "word" else t.value)

    def _tok(self) -> Token:
        return self.toks[self.i]

    def _reserved(self, *names: str) -> bool:
        t = self._tok()
        return t.kind == "word" and t.literal in names

    def _op(self, *ops: str) -> bool:
        t = self._tok()
        return t.kind == "op" and t.value in ops

    def _expect_reserved(self, name: str) -> None:
        if not self._reserved(name):
            raise ParseError(f"expected {name!r}")
        self.i += 1

    def _skip_separators(self) -> None:
        while self._tok().kind == "nl" or self._op(";"):
            self.i += 1

    def _at_end(self, stops: frozenset[str]) -> bool:
        t = self._tok()
        if t.kind == "eof":
            return True
        if t.kind == "op" and t.value in stops:
            return True
        return t.kind == "word" and t.literal in stops

    def sequence(self, stops: frozenset[str]) -> Sequence:
        items: list[tuple[Node, bool]] = []
        self._skip_separators()
        while not self._at_end(stops):
            node = self.and_or()
            background = False
            if self._op("&"):
                background = True
                self.i += 1
            elif self._tok().kind == "nl" or self._op(";"):
                self.i += 1
            elif not self._at_end(stops):
                raise ParseError(f"syntax error near {self.peek()[1]!r}")
            items.append((node, background))
            self._skip_separators()
        return Sequence(tuple(items))

    def and_or(self) -> Node:
        first = self.pipeline()
        rest: list[tuple[str, Node]] = []
        while self._op("&&", "||"):
            op = str(self._tok().value)
            self.i += 1
            while self._tok().kind == "nl":
                self.i += 1
            rest.append((op, self.pipeline()))
        return AndOr(first, tuple(rest)) if rest else first

    def pipeline(self) -> Node:
        negate = False
        if self._reserved("!"):
            negate = True
            self.i += 1
        commands = [self.command()]
        while self._op("|"):
            self.i += 1
            while self._tok().kind == "nl":
                self.i += 1
            commands.append(self.command())
        if len(commands) == 1 and not negate:
            return commands[0]
        return Pipeline(tuple(commands), negate)

    def command(self) -> Node:
        t = self._tok()
        if t.kind == "word" and t.literal in ("while", "until"):
            self.i += 1
            cond = self.sequence(frozenset({"do"}))
            self._expect_reserved("do")
            body = self.sequence(frozenset({"done"}))
            self._expect_reserved("done")
            node: Node = Loop(cond, body, until=t.literal == "until")
        elif t.kind == "word" and t.literal == "for":
            node = self._for()
        elif t.kind == "word" and t.literal == "if":
            node = self._if()
        elif t.kind == "word" and t.literal == "{":
            self.i += 1
            body = self.sequence(frozenset({"}"}))
            self._expect_reserved("}")
            node = Group(body)
        elif self._op("("):
            self.i += 1
            body = self.sequence(frozenset({")"}))
            if not self._op(")"):
                raise ParseError("expected ')'")
            self.i += 1
            node = Group(body, subshell=True)
        elif t.kind == "word" and t.literal in ("case", "function"):
            raise ParseError(f"{t.literal!r} is not emulated")
        else:
            return self._simple()
        self._redirects()  # redirections of a compound command are accepted and ignored
        return node

    def _for(self) -> Node:
        self.i += 1
        t = self._tok()
        if t.kind != "word" or not t.literal:
            raise ParseError("bad for loop variable")
        var = t.literal
        self.i += 1
        while self._tok().kind == "nl":
            self.i += 1
        words: tuple[Word, ...] | None = None
        if self._reserved("in"):
            self.i += 1
            collected: list[Word] = []
            while self._tok().kind == "word":
                collected.append(_resolve(self._tok().value))  # type: ignore[arg-type]
                self.i += 1
            words = tuple(collected)
        self._skip_separators()
        self._expect_reserved("do")
        body = self.sequence(frozenset({"done"}))
        self._expect_reserved("done")
        return ForLoop(var, words, body)

    def _if(self) -> Node:
        branches: list[tuple[Sequence, Sequence]] = []
        otherwise = None
        self.i += 1
        while True:
            cond = self.sequence(frozenset({"then"}))
            self._expect_reserved("then")
            body = self.sequence(frozenset({"elif", "else", "fi"}))
            branches.append((cond, body))
            if self._reserved("elif"):
                self.i += 1
                continue
            if self._reserved("else"):
                self.i += 1
                otherwise = self.sequence(frozenset({"fi"}))
            self._expect_reserved("fi")
            return If(tuple(branches), otherwise)

    def _redirects(self) -> list[tuple[str, Word]]:
        out: list[tuple[str, Word]] = []
        while self._tok().kind == "op" and \
                str(self._tok().value).lstrip("0123456789") in REDIRECTS:
            op = str(self._tok().value)
            self.i += 1
            if self._tok().kind != "word":
                raise ParseError(f"syntax error near {op!r}")
            out.append((op, _resolve(self._tok().value)))  # type: ignore[arg-type]
            self.i += 1
        return out

    def _simple(self) -> Simple:
        words: list[Word] = []
        assigns: list[tuple[str, Word]] = []
        redirects: list[tuple[str, Word]] = []
        while True:
            t = self._tok()
            if t.kind == "op" and str(t.value).lstrip("0123456789") in REDIRECTS:
                redirects.extend(self._redirects())
            elif t.kind == "word":
                word: Word = _resolve(t.value)  # type: ignore[arg-type]
                name = _assignment_name(word)
                if name is not None and not words:
                    first = word[0]
                    value = (Part("lit", first.text[len(name) + 1:], first.quoted),) + word[1:]
                    assigns.append((name, value))
                else:
                    words.append(word)
                self.i += 1
            else:
                break
        if not words and not assigns and not redirects:
            raise ParseError(f"syntax error near {self.peek()[1]!r}")
        return Simple(tuple(words), tuple(assigns), tuple(redirects))


def _assignment_name(word: Word) -> str | None:
    first = word[0] if word else None
    if first is None or first.kind != "lit" or first.quoted or "=" not in first.text:
        return None
    name = first.text.split("=", 1)[0]
    if name and (name[0].isalpha() or name[0] == "_") and all(
            c.isalnum() or c == "_" for c in name):
        return name
    return None
