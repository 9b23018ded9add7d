"""Layered location of a hunk's old side in a file: exact, whitespace-insensitive, tolerant.

Every layer returns all candidate places; a caller takes a place only when it is the single
candidate of the first layer that finds any (or the one a diff header's line number names).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from vibeforge.edits.text import IndentStyle, indent_of, is_elision

MAX_GAP = 2  # file lines a model may leave out between two context lines it did write
MAX_SKIPPED = 3  # total lines dropped or invented in one hunk
MAX_SOLUTIONS = 64  # stop the tolerant search once this many alignments are known


@dataclass
class Match:
    """Where a hunk's old side sits: its span and, per old line, the file line it matched."""

    start: int
    end: int
    pairs: list[int | None]  # per old entry: file index, None if the entry matched nothing
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # elision entry -> span
    delta: int = 0  # file indentation minus the edit's, in columns
    layer: str = "exact"
    cost: int = 0
    tab_width: int = 4  # columns one tab of the edit stands for


class FileIndex:
    """A file's lines with lookup tables for each comparison level."""

    def __init__(self, lines: list[str], style: IndentStyle | None = None) -> None:
        self.lines = lines
        self.style = style or IndentStyle.of(lines)
        self._tables: dict[str, dict[str, list[int]]] = {}

    def table(self, level: str) -> dict[str, list[int]]:
        """Positions of each line under a normalisation level (built on first use)."""
        if level not in self._tables:
            table: dict[str, list[int]] = defaultdict(list)
            for number, line in enumerate(self.lines):
                table[normalise(line, level)].append(number)
            self._tables[level] = table
        return self._tables[level]


_RUNS = re.compile(r"\s+")
_AROUND_PUNCTUATION = re.compile(r" ?([^\w\s]) ?")


def normalise(line: str, level: str) -> str:
    """A line as compared at a level: `exact`, `rstrip`, `expandN`, `strip` or `spacing`.

    `spacing` also ignores how spaces are laid out inside the line (`x=f(a,b)` is
    `x = f(a, b)`), but never joins two words, so a mistyped name still differs.
    """
    if level == "exact":
        return line
    if level == "rstrip":
        return line.rstrip()
    if level == "strip":
        return line.strip()
    if level.startswith("expand"):
        return line.expandtabs(int(level[6:])).rstrip()
    return _AROUND_PUNCTUATION.sub(r"\1", _RUNS.sub(" ", line.strip()))


def _indent_delta(
    index: FileIndex, entries: list[str], pairs: list[int | None], edit_style: IndentStyle
) -> tuple[int, int] | None:
    """The one column shift mapping the edit's indentation onto the file's, and the tab width
    that makes it one shift; None when no width does."""
    used = [
        (text, index.lines[where])
        for text, where in zip(entries, pairs, strict=True)
        if where is not None and text.strip() and not is_elision(text)
    ]
    widths = [edit_style.unit]
    if any("\t" in indent_of(text) for text, _ in used):
        # A model's tabs stand for one level, whose width we can only infer.
        widths += [width for width in (4, 2, 8) if width != edit_style.unit]
    consistent: list[tuple[int, int]] = []
    for width in widths:
        shifts = {
            index.style.columns(indent_of(line)) - len(indent_of(text).expandtabs(width))
            for text, line in used
        }
        if len(shifts) <= 1:
            consistent.append(((shifts.pop() if shifts else 0), width))
    # Tabs are usually just another spelling of the same indentation: prefer no shift.
    unshifted = [found for found in consistent if found[0] == 0]
    return (unshifted or consistent or [None])[0]


def _aligned_starts(index: FileIndex, entries: list[str], level: str) -> list[int]:
    """Every start where the entries equal consecutive file lines at one level."""
    anchor = next((k for k, text in enumerate(entries) if text.strip()), None)
    if anchor is None:
        return []
    wanted = [normalise(text, level) for text in entries]
    lines = index.lines
    starts: list[int] = []
    for position in index.table(level).get(wanted[anchor], []):
        start = position - anchor
        if start < 0 or start + len(entries) > len(lines):
            continue
        if all(
            (normalise(lines[start + k], level) == want)
            if level == "exact" or want
            else not lines[start + k].strip()
            for k, want in enumerate(wanted)
        ):
            starts.append(start)
    return starts


def contiguous(
    index: FileIndex, entries: list[str], level: str, edit_style: IndentStyle
) -> list[Match]:
    """All places where the entries match consecutive file lines at one level."""
    found: list[Match] = []
    for start in _aligned_starts(index, entries, level):
        pairs: list[int | None] = list(range(start, start + len(entries)))
        delta, width = 0, edit_style.unit
        if level in ("strip", "spacing"):
            shift = _indent_delta(index, entries, pairs, edit_style)
            if shift is None:
                continue
            delta, width = shift
        found.append(
            Match(start, start + len(entries), pairs, delta=delta, layer=level, tab_width=width)
        )
    return found


def drifted(index: FileIndex, entries: list[str], unit: int) -> list[Match]:
    """Places where a diff hunk's old side matches consecutive lines with indentation ignored,
    but not by one shift: its indentation drifts from line to line (context lines that lost
    their leading space, say). The caller settles the added lines' shift (`added_shift`)."""
    found: list[Match] = []
    for start in _aligned_starts(index, entries, "strip"):
        pairs: list[int | None] = list(range(start, start + len(entries)))
        if _indent_delta(index, entries, pairs, IndentStyle(False, unit)) is not None:
            continue  # one shift fits: the strip layer's business, not drift
        end = start + len(entries)
        found.append(Match(start, end, pairs, layer="drift", tab_width=unit))
    return found


def added_shift(
    index: FileIndex, match: Match, entries: list[str], removed: list[bool], added: list[str]
) -> int:
    """The shift for a diff hunk's added lines, whose `+` is more reliable than the context.

    Context lines lose or gain their leading space; `-` and `+` lines rarely do. So: the
    shift of the removed lines, then the one keeping the added lines on the file's
    indentation grid, then the one most lines share (a shift one column off counting half:
    a context line that lost its space), then the smallest. The lines' own indentation
    (no shift) is always a candidate.
    """
    style, unit = index.style, match.tab_width
    by_removed: Counter[int] = Counter()
    shifts: list[int] = []
    for k, (text, where) in enumerate(zip(entries, match.pairs, strict=True)):
        if where is None or not text.strip() or is_elision(text):
            continue
        shift = style.columns(indent_of(index.lines[where])) - len(indent_of(text).expandtabs(unit))
        shifts.append(shift)
        by_removed[shift] += removed[k]
    columns = [len(indent_of(line).expandtabs(unit)) for line in added if line.strip()]
    candidates = {0} | {shift + step for shift in shifts for step in (-1, 0, 1)}

    def rank(candidate: int) -> tuple[int, int, int, int]:
        on_grid = sum((width + candidate) % style.unit == 0 for width in columns)
        near = sum(2 if shift == candidate else abs(shift - candidate) == 1 for shift in shifts)
        return by_removed[candidate], on_grid if style.known else 0, near, -abs(candidate)

    return max(sorted(candidates), key=rank)


class _Tolerant:
    """Alignment allowing elision lines, invented blank lines and a few dropped file lines."""

    def __init__(self, index: FileIndex, entries: list[str], skippable: list[bool]) -> None:
        self.index = index
        self.entries = entries
        self.wanted = [text.strip() for text in entries]
        self.marker = [is_elision(text) for text in entries]
        self.skippable = skippable
        self.solutions: list[tuple[int, list[int | None], dict[int, tuple[int, int]], int]] = []
        self.first = next(
            (k for k, text in enumerate(self.wanted) if text and not self.marker[k]), None
        )

    def _equal(self, k: int, position: int) -> bool:
        lines = self.index.lines
        if position >= len(lines):
            return False
        want = self.wanted[k]
        return lines[position].strip() == want if want else not lines[position].strip()

    def run(self) -> None:
        if self.first is None:
            return
        table = self.index.table("strip")
        for position in table.get(self.wanted[self.first], []):
            pairs: list[int | None] = [None] * len(self.entries)
            spans: dict[int, tuple[int, int]] = {}
            # Entries before the first anchor: blanks may be invented, elisions are empty.
            back = position
            ok = True
            for k in range(self.first - 1, -1, -1):
                if self.marker[k]:
                    spans[k] = (back, back)
                elif back > 0 and self._equal(k, back - 1):
                    back -= 1
                    pairs[k] = back
                elif self.skippable[k]:
                    continue
                else:
                    ok = False
                    break
            if not ok:
                continue
            pairs[self.first] = position
            self._walk(self.first + 1, position + 1, pairs, spans, 0, back)
            if len(self.solutions) >= MAX_SOLUTIONS:
                return

    def _walk(
        self,
        k: int,
        position: int,
        pairs: list[int | None],
        spans: dict[int, tuple[int, int]],
        cost: int,
        start: int,
    ) -> None:
        if len(self.solutions) >= MAX_SOLUTIONS:
            return
        if k == len(self.entries):
            self.solutions.append((start, list(pairs), dict(spans), cost))
            return
        if self.marker[k]:
            self._walk_elision(k, position, pairs, spans, cost, start)
            return
        if self._equal(k, position):
            pairs[k] = position
            self._walk(k + 1, position + 1, pairs, spans, cost, start)
            pairs[k] = None
        if cost < MAX_SKIPPED and self.skippable[k]:
            self._walk(k + 1, position, pairs, spans, cost + 1, start)
        for gap in range(1, MAX_GAP + 1):
            if cost + gap > MAX_SKIPPED:
                break
            if self._equal(k, position + gap):
                pairs[k] = position + gap
                self._walk(k + 1, position + gap + 1, pairs, spans, cost + gap, start)
                pairs[k] = None

    def _walk_elision(
        self,
        k: int,
        position: int,
        pairs: list[int | None],
        spans: dict[int, tuple[int, int]],
        cost: int,
        start: int,
    ) -> None:
        following = next(
            (j for j in range(k + 1, len(self.entries)) if self.wanted[j] and not self.marker[j]),
            None,
        )
        if following is None:  # a trailing elision stands for nothing we need to keep apart
            for j in range(k, len(self.entries)):
                if self.marker[j]:
                    spans[j] = (position, position)
            self._walk(len(self.entries), position, pairs, spans, cost, start)
            return
        table = self.index.table("strip")
        positions = table.get(self.wanted[following], [])
        offset = following - k - 1  # blank entries between the elision and the next anchor
        for hit in positions[bisect_left(positions, position + offset) :]:
            spans[k] = (position, hit - offset)
            # Blank entries before the anchor must match the lines right above it.
            self._walk(k + 1, hit - offset, pairs, spans, cost, start)
            del spans[k]
            if len(self.solutions) >= MAX_SOLUTIONS:
                return


def tolerant(
    index: FileIndex, entries: list[str], skippable: list[bool], edit_style: IndentStyle
) -> list[Match]:
    """Places found allowing elisions, invented blank lines and dropped context lines.

    Per place (start, end) the cheapest alignment is kept.
    """
    search = _Tolerant(index, entries, skippable)
    search.run()
    best: dict[tuple[int | None, ...], Match] = {}
    for start, pairs, spans, cost in search.solutions:
        shift = _indent_delta(index, entries, pairs, edit_style)
        if shift is None:
            continue
        delta, width = shift
        ends = [p + 1 for p in pairs if p is not None] + [end for _, end in spans.values()]
        starts = [p for p in pairs if p is not None] + [begin for begin, _ in spans.values()]
        begin = min(starts) if starts else start
        end = max(ends) if ends else begin
        # Two alignments are the same place when their non-blank lines land on the same lines;
        # they may differ only in how blank lines pair up (elisions fill what lies between).
        key = tuple(p for k, p in enumerate(pairs) if search.wanted[k] and not search.marker[k])
        match = Match(begin, end, pairs, spans, delta, "tolerant", cost, width)
        if key not in best or cost < best[key].cost:
            best[key] = match
    return sorted(best.values(), key=lambda m: (m.start, m.end))
