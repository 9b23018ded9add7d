"""The template grammar: `@module` references, `${variable}` substitutions and `\\` escapes.

- `@name` pulls a module; a name is `[a-z][a-z0-9_]{0,49}`. An `@` right after a letter or
  digit is text (`user@example.com`) unless that letter ends a reference (`@a@b`); so is an
  `@` followed by anything that cannot start a name (`@ `, `@!`). An `@` followed by a letter
  that does not form a whole valid name (`@Greeting`, `@café`) is an error naming it, never
  text that silently stays.
- `${name}` substitutes a variable; a name is a Unicode identifier, dotted parts allowed
  (`${prénom}`, `${memory.topic}`). An unknown variable is an error, unless the reference
  gives a default: `${topic:-none yet}` (the default is plain text up to the `}`). A `$` not
  followed by `{` is text.
- `\\@`, `\\$` and `\\\\` are a literal `@`, `$` and backslash; any other backslash is text.

Parsing is pure and cached: a module's content is parsed once however often it is resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vibeforge.errors import InvalidInput

MODULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")
VARIABLE_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
MAX_VARIABLE_NAME = 100
_SPECIAL = re.compile(r"\\[@$\\]|@|\$\{")
_WORD = re.compile(r"\w")


class TemplateError(InvalidInput):
    """A template or module that cannot be resolved: bad syntax, or a name that is unknown."""

    code = "invalid_template"


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text (escapes already applied)."""

    text: str


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """`@name`, at `offset` in the source."""

    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class VariableRef:
    """`${name}` (or `${name:-default}`), at `offset` in the source."""

    name: str
    offset: int
    default: str | None = None


Piece = Text | ModuleRef | VariableRef


def _snippet(source: str, offset: int) -> str:
    return source[offset : offset + 40].split("\n", 1)[0]


@lru_cache(maxsize=8192)
def parse(source: str) -> tuple[Piece, ...]:
    """The pieces of a template or module text; TemplateError says what is wrong and where."""
    pieces: list[Piece] = []
    literal: list[str] = []
    position = 0
    reference_end = -1  # where the last @name ended: `@a@b` is two references
    for match in _SPECIAL.finditer(source):
        start = match.start()
        if start < position:
            continue  # inside a ${...} already consumed
        token = match.group()
        literal.append(source[position:start])
        position = match.end()
        if token[0] == "\\":
            literal.append(token[1])
        elif token == "@":
            after = source[start + 1 : start + 2]
            before = source[start - 1 : start] if start != reference_end else ""
            if (before and _WORD.match(before)) or not (after and _WORD.match(after)):
                literal.append("@")  # an e-mail address, or an @ that starts no name
                continue
            name = MODULE_NAME.match(source, start + 1)
            end = name.end() if name else start + 1
            if name is None or (end < len(source) and _WORD.match(source, end)):
                bad = re.match(r"\w*", source[start + 1 :])
                shown = "@" + (bad.group() if bad else "")
                raise TemplateError(
                    f"invalid module reference {shown!r} at offset {start}: names are "
                    "[a-z][a-z0-9_]{0,49} (write \\@ for a literal @)"
                )
            _flush(literal, pieces)
            pieces.append(ModuleRef(name.group(), start))
            position = reference_end = end
        else:
            close = source.find("}", position)
            if close < 0:
                raise TemplateError(
                    f"unclosed variable reference at offset {start}: {_snippet(source, start)!r}"
                )
            name_text, has_default, default = source[position:close].partition(":-")
            if len(name_text) > MAX_VARIABLE_NAME or not VARIABLE_NAME.fullmatch(name_text):
                raise TemplateError(
                    f"invalid variable reference {'${' + name_text[:60] + '}'!r} at offset "
                    f"{start}: a name is an identifier, dotted parts allowed (write \\$ for "
                    "a literal $)"
                )
            _flush(literal, pieces)
            pieces.append(VariableRef(name_text, start, default if has_default else None))
            position = close + 1
    literal.append(source[position:])
    _flush(literal, pieces)
    return tuple(pieces)


def _flush(literal: list[str], pieces: list[Piece]) -> None:
    text = "".join(literal)
    literal.clear()
    if text:
        pieces.append(Text(text))


def check(source: str, what: str) -> None:
    """Raise TemplateError (naming `what`) when `source` does not parse."""
    try:
        parse(source)
    except TemplateError as error:
        raise TemplateError(f"{what}: {error.detail}") from None


def references(source: str) -> list[str]:
    """The module names a text refers to, in order of appearance (repeats kept)."""
    return [piece.name for piece in parse(source) if isinstance(piece, ModuleRef)]


_ESCAPED = re.compile(r"[@$\\]")


def escape(text: str) -> str:
    """Text that resolves to exactly `text` (every `@`, `$` and backslash escaped)."""
    return _ESCAPED.sub(lambda match: "\\" + match.group(), text)
