"""Fitting attachments into a prompt: whole when they fit, else whole pages, rows or lines
while they fit, and a report that says exactly what went in and what was left out.

Pure: given the attachments (in a stable order) and their extracts, the same text comes out
every turn, so the prompt's attachment part stays a cacheable prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vibeforge.attachments.blocks import Block, Extract
from vibeforge.tokencount import TOKENS_PER_IMAGE, estimate_tokens

INTRO = (
    "The user attached the files below; they are part of this conversation. Where a file "
    "could not be given in full, the parts left out are listed: say so when an answer may "
    "depend on them, rather than guessing."
)
UNIT_NAMES = {"page": "pages", "row": "rows", "line": "lines", "image": "images"}


@dataclass(frozen=True, slots=True)
class Item:
    """One attachment as the budget sees it."""

    id: str
    name: str
    kind: str
    state: str
    extract: Extract | None  # None unless ready
    error: str | None = None


@dataclass
class Plan:
    """What the prompt gets: its text, the images to attach, and the report."""

    text: str
    image_ids: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def ranges(blocks: Sequence[Block]) -> list[list[int]]:
    """The unit numbers blocks cover, as merged `[first, last]` ranges."""
    merged: list[list[int]] = []
    for block in blocks:
        if merged and block.start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], block.end)
        else:
            merged.append([block.start, block.end])
    return merged


def describe(unit: str, spans: list[list[int]]) -> str:
    """`pages 1-12, 14` for the ranges of a unit."""
    words = UNIT_NAMES.get(unit, unit)
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in spans]
    return f"{words} {', '.join(parts)}"


def plan(items: Sequence[Item], budget: int, images: bool) -> Plan:
    """Fit `items`, in order, into `budget` tokens; `images`: whether the model takes them."""
    remaining = budget - estimate_tokens(INTRO)
    sections: list[str] = []
    left_out: list[str] = []
    reports: list[dict[str, Any]] = []
    image_ids: list[str] = []
    for item in items:
        report: dict[str, Any] = {
            "attachment_id": item.id,
            "name": item.name,
            "kind": item.kind,
            "state": item.state,
        }
        reports.append(report)
        extract = item.extract
        if extract is None:
            report.update(status="failed" if item.state == "failed" else "not_ready", tokens=0)
            if item.error:
                report["reason"] = item.error
            sections.append(f"- {item.name}: could not be read ({item.error or item.state}).")
            continue
        report.update(unit=extract.unit, count=extract.count, tokens=extract.tokens)
        if extract.unit == "image":
            remaining = _image(item, extract, images, remaining, report, sections, image_ids)
            continue
        remaining = _text(item, extract, remaining, report, sections, left_out)
    text = "\n\n".join([INTRO, *sections])
    if left_out:
        text += "\n\nLeft out for lack of room: " + "; ".join(left_out) + "."
    used = budget - remaining
    return Plan(
        text=text,
        image_ids=image_ids,
        report={
            "budget_tokens": budget,
            "used_tokens": used,
            "images_accepted": images,
            "attachments": reports,
        },
    )


def _image(
    item: Item,
    extract: Extract,
    images: bool,
    remaining: int,
    report: dict[str, Any],
    sections: list[str],
    image_ids: list[str],
) -> int:
    size = f"{extract.width}x{extract.height}"
    if not images:
        report.update(status="unavailable", included_tokens=0, reason="the model takes no images")
        sections.append(
            f"- {item.name} ({size} image): this model does not accept images, so its "
            "content is unavailable to you; tell the user if the answer depends on it."
        )
        return remaining
    if remaining < TOKENS_PER_IMAGE:
        report.update(status="omitted", included_tokens=0, reason="no room left in the budget")
        sections.append(f"- {item.name} ({size} image): left out for lack of room.")
        return remaining
    report.update(status="full", included_tokens=TOKENS_PER_IMAGE)
    sections.append(f"- {item.name} ({size} image): attached to the user's message as an image.")
    image_ids.append(item.id)
    return remaining - TOKENS_PER_IMAGE


def _text(
    item: Item,
    extract: Extract,
    remaining: int,
    report: dict[str, Any],
    sections: list[str],
    left_out: list[str],
) -> int:
    opening = f'<attachment name="{item.name}" kind="{item.kind}">'
    cost = estimate_tokens(opening) + 2
    if extract.header:
        cost += estimate_tokens(extract.header)
    taken: list[Block] = []
    for block in extract.blocks:
        if cost + block.tokens > remaining:
            break
        taken.append(block)
        cost += block.tokens
    dropped = extract.blocks[len(taken) :]
    included, excluded = ranges(taken), ranges(dropped)
    report.update(included=included, left_out=excluded)
    if not taken and extract.blocks:
        report.update(status="omitted", included_tokens=0, reason="no room left in the budget")
        left_out.append(f"{item.name} (all of it, about {extract.tokens} tokens)")
        return remaining
    status = "partial" if dropped else "full"
    report.update(status=status, included_tokens=cost)
    body = "".join(_render(extract.unit, block) for block in taken)
    header = extract.header or ""
    if dropped:
        note = f"({describe(extract.unit, included)} of {extract.count} included)\n"
        spare = sum(block.tokens for block in dropped)
        left_out.append(f"{item.name} {describe(extract.unit, excluded)} (about {spare} tokens)")
    else:
        note = ""
    sections.append(f"{opening}\n{note}{header}{body}</attachment>")
    return remaining - cost


def _render(unit: str, block: Block) -> str:
    if unit == "page":
        text = block.text if block.text.strip() else "(no text on this page)"
        return f"[page {block.start}]\n{text.rstrip()}\n"
    return block.text if block.text.endswith("\n") else block.text + "\n"
