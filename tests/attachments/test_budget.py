"""The budget and the blocks, on literal inputs: what fits goes whole, what does not is cut
at whole units and said, and CSV records and long lines are split where they should be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vibeforge.attachments.blocks import Block, Extract, csv_extract, group, split_records
from vibeforge.attachments.budget import Item, plan, ranges
from vibeforge.attachments.kinds import Kind
from vibeforge.tokencount import TOKENS_PER_IMAGE


def lines_extract(count: int, width: int = 40) -> Extract:
    units = [f"{n:04} " + "x" * (width - 6) + "\n" for n in range(1, count + 1)]
    return Extract(kind="text", unit="line", count=count, blocks=group(units))


def image_extract() -> Extract:
    return Extract(
        kind="image",
        unit="image",
        count=1,
        blocks=[Block(1, 1, "", TOKENS_PER_IMAGE)],
        width=10,
        height=20,
        image_file="model.png",
        image_media_type="image/png",
    )


def test_everything_that_fits_goes_whole_in_order() -> None:
    items = [
        Item("a", "a.txt", "text", "ready", lines_extract(10)),
        Item("b", "b.txt", "text", "ready", lines_extract(5)),
    ]
    planned = plan(items, 10_000, images=True)
    first, second = planned.report["attachments"]
    assert (first["status"], first["included"], first["left_out"]) == ("full", [[1, 10]], [])
    assert second["status"] == "full"
    assert planned.text.index('name="a.txt"') < planned.text.index('name="b.txt"')
    assert "Left out" not in planned.text
    assert planned.report["used_tokens"] <= 10_000


def test_a_large_attachment_is_cut_and_a_small_one_after_it_still_fits() -> None:
    big = lines_extract(400)
    items = [
        Item("a", "big.txt", "text", "ready", big),
        Item("b", "small.txt", "text", "ready", lines_extract(2)),
    ]
    planned = plan(items, 1500, images=False)
    first, second = planned.report["attachments"]
    assert first["status"] == "partial"
    last = first["included"][0][1]
    assert first["left_out"] == [[last + 1, 400]]
    assert second["status"] == "full", "what is left of the budget still serves the next"
    assert f"big.txt lines {last + 1}-400" in planned.text
    assert planned.report["used_tokens"] <= 1500


def test_nothing_fits_and_failures_are_reported() -> None:
    items = [
        Item("a", "a.txt", "text", "ready", lines_extract(100)),
        Item("b", "broken.pdf", "pdf", "failed", None, "the PDF cannot be read"),
    ]
    planned = plan(items, 50, images=True)
    first, second = planned.report["attachments"]
    assert first["status"] == "omitted" and first["left_out"] == [[1, 100]]
    assert "a.txt (all of it" in planned.text
    assert (second["status"], second["reason"]) == ("failed", "the PDF cannot be read")
    assert "broken.pdf: could not be read (the PDF cannot be read)" in planned.text


def test_images_go_as_parts_or_are_described() -> None:
    items = [Item("i", "photo.png", "image", "ready", image_extract())]
    taking = plan(items, 10_000, images=True)
    assert taking.image_ids == ["i"] and taking.report["attachments"][0]["status"] == "full"
    blind = plan(items, 10_000, images=False)
    assert blind.image_ids == [] and blind.report["attachments"][0]["status"] == "unavailable"
    assert "does not accept images" in blind.text
    cramped = plan(items, TOKENS_PER_IMAGE, images=True)
    assert cramped.image_ids == [] and cramped.report["attachments"][0]["status"] == "omitted"


def test_the_same_attachments_make_the_same_text() -> None:
    items = [Item("a", "a.txt", "text", "ready", lines_extract(300))]
    assert plan(items, 2000, images=True).text == plan(items, 2000, images=True).text


def test_csv_records_keep_quoted_line_breaks_and_the_header() -> None:
    text = 'name,note\nann,"two\nlines"\nbob,plain\n'
    assert split_records(text) == ["name,note\n", 'ann,"two\nlines"\n', "bob,plain\n"]
    table = csv_extract(text)
    assert table is not None and table.count == 2 and table.header == "name,note\n"
    assert csv_extract("one\ncolumn\nonly\n") is None


def test_ranges_merge_adjacent_blocks() -> None:
    blocks = [Block(1, 3, "", 1), Block(4, 4, "", 1), Block(4, 4, "", 1), Block(7, 9, "", 1)]
    assert ranges(blocks) == [[1, 4], [7, 9]]


@given(st.lists(st.text(max_size=5000).map(lambda t: t.replace("\n", "") + "\n"), max_size=60))
def test_blocks_cover_every_unit_once_and_keep_the_text(units: list[str]) -> None:
    blocks = group(units, size=300)
    assert "".join(block.text for block in blocks) == "".join(units)
    covered = sorted({n for block in blocks for n in range(block.start, block.end + 1)})
    assert covered == list(range(1, len(units) + 1))
    assert all(len(block.text) <= 300 or block.start == block.end for block in blocks)
    assert all(block.tokens >= (1 if block.text else 0) for block in blocks)


def test_kinds_are_checked_against_the_content() -> None:
    from vibeforge.attachments.blocks import text_extract

    assert text_extract("not json", Kind.JSON).kind == Kind.TEXT
    assert text_extract('{"a": 1}', Kind.TEXT).kind == Kind.JSON
    assert text_extract("a,b\n1,2\n", Kind.CSV).kind == Kind.CSV
