"""Path lines in model replies: recognising them and deciding which file they name."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from vibeforge.edits.fences import is_fence_line

_PATH_CHARS = re.compile(r"^[\w.\-/\\@+~]+$")
# A path in backticks or quotes, maybe bold, maybe with a colon: it may hold spaces.
_QUOTED = re.compile(r"^(?:\*\*|__)?(?P<q>[`'\"])(?P<inner>[^`'\"]+)(?P=q)(?:\*\*|__)?:?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADING = re.compile(r"^#{1,6}\s+")
_LABEL = re.compile(r"^(?:file(?:name|path)?|path)\s*[:=]\s*", re.IGNORECASE)
# Prefixes models put before a repository path ("Lib/json/x.py" for "json/x.py").
_DIFF_SIDES = ("a/", "b/")


def clean_path(raw: str) -> str:
    """Normalise a path as written by a model: quotes, `\\`, `./`, trailing colon."""
    text = raw.strip()
    text = _LABEL.sub("", text)
    text = text.strip("*`'\" ").rstrip(":").strip("*`'\" ")
    text = text.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def strip_diff_side(path: str) -> str:
    """Drop the `a/` or `b/` a diff header puts before a path."""
    for side in _DIFF_SIDES:
        if path.startswith(side):
            return path[len(side) :]
    return path


def looks_like_path(line: str, known: Collection[str] = (), headings: bool = False) -> str | None:
    """Return the cleaned path when a reply line is only a file path, else None.

    `known` are the paths the reply may name (the project's files): a line naming one of
    them is a path line whatever it holds (spaces, brackets, any letters). Other lines need
    the usual shape of a path, or quotes or backticks around one with spaces in it.
    `headings`: the line is prose around edit blocks, where `### src/app.py` is a Markdown
    heading naming a file (in a file's own text it would be a comment).
    """
    stripped = line.strip()
    if not stripped or len(stripped) > 300 or is_fence_line(stripped):
        return None
    if known:
        named = _known(line, known)
        if named is not None:
            return named
    if headings and _HEADING.match(stripped):
        return looks_like_path(_HEADING.sub("", stripped), known)
    if stripped.startswith(("#", "//")):
        return None
    quoted = _QUOTED.match(_LABEL.sub("", stripped))
    if quoted:
        candidate = clean_path(quoted.group("inner"))
        if not candidate or _CONTROL.search(candidate) or candidate != candidate.strip():
            return None
    else:
        candidate = clean_path(stripped)
        if not candidate or not _PATH_CHARS.match(candidate):
            return None
    if not re.search(r"[^\W\d_]", candidate) or candidate.endswith("/"):
        return None
    name = candidate.rsplit("/", 1)[-1]
    # A file name needs an extension, or the line needs a directory part (or it is a dotfile).
    if "/" not in candidate and not re.search(r"(\w\.[A-Za-z0-9]{1,10}|^\.[\w-]+)$", name):
        return None
    return candidate


def path_in_info(info: str, known: Collection[str] = ()) -> str | None:
    """A path written as (part of) a fence's info string: ```` ```python src/app.py ````."""
    named = _known(info, known) if known and info.strip() else None
    if named is not None:
        return named
    for word in info.split():
        named = looks_like_path(word)
        if named is not None and ("/" in named or "." in named):
            return named
    return None


def _known(line: str, known: Collection[str]) -> str | None:
    """The known path a line names: exactly as written (a name may start or end with a
    space), or cleaned of quotes, labels and `./`, or as a unique path suffix."""
    raw = line.rstrip("\r\n")
    if raw in known:
        return raw
    candidate = clean_path(line)
    if not candidate:
        return None
    if candidate in known:
        return candidate
    hits = [path for path in known if path_matches(candidate, path)]
    return candidate if len(hits) == 1 else None


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def path_matches(written: str, target: str) -> bool:
    """True when a path from a reply names `target` (same path, or one is a suffix of the other).

    Models prefix paths with `Lib/`, `src/` or a project name, or give only the tail;
    both forms name the same file as long as whole path components agree.
    """
    mine = _parts(clean_path(written))
    theirs = _parts(clean_path(target))
    if not mine or not theirs:
        return False
    shorter = min(len(mine), len(theirs))
    return mine[-shorter:] == theirs[-shorter:]


def resolve_path(written: str, candidates: Iterable[str]) -> str | None:
    """Pick the one candidate a written path names: an exact match first, then a unique suffix."""
    cleaned = clean_path(written)
    options = list(candidates)
    for option in options:
        if clean_path(option) == cleaned:
            return option
    side = strip_diff_side(cleaned)
    for option in options:
        if clean_path(option) == side:
            return option
    hits = [o for o in options if path_matches(cleaned, o) or path_matches(side, o)]
    return hits[0] if len(hits) == 1 else None


def header_names(written: str, target: str) -> bool:
    """True when a path line or diff header names `target`, allowing the a/ b/ of diffs."""
    cleaned = clean_path(written)
    return path_matches(cleaned, target) or path_matches(strip_diff_side(cleaned), target)
