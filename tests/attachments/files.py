"""Test files made from scratch: PDFs with text pages (and hostile ones), images, tables."""

from __future__ import annotations

import io
import zlib

from PIL import Image


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file of numbered objects (1 is the catalog), with a correct cross-reference."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _stream(data: bytes, compress: bool = True) -> bytes:
    if compress:
        packed = zlib.compress(data)
        return (
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
            + packed
            + (b"\nendstream")
        )
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose page N shows the lines pages[N] in Helvetica."""
    count = len(pages)
    # 1 catalog, 2 pages tree, 3 font, then per page: a page object and its content stream.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * index) for index in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        content = b"BT /F1 10 Tf 12 TL 40 800 Td\n"
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            content += b"(" + escaped.encode("latin-1") + b") Tj T*\n"
        content += b"ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(_stream(content))
    return _pdf(objects)


def numbered_pdf(count: int, lines_per_page: int = 40) -> bytes:
    """A PDF of `count` pages, each line naming its page and line."""
    return text_pdf(
        [
            [f"Page {page} line {line} of the report." for line in range(1, lines_per_page + 1)]
            for page in range(1, count + 1)
        ]
    )


def bomb_pdf(decompressed_mb: int = 100) -> bytes:
    """A one-page PDF whose content stream inflates from about 100 KB to `decompressed_mb`."""
    packed = zlib.compress(b" " * (decompressed_mb * 1024 * 1024), 9)
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            stream + b"\nendstream",
        ]
    )


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """A real image of `size` in format `fmt`."""
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def csv_table(rows: int, columns: int = 4) -> str:
    """A CSV table with a header and `rows` numbered rows."""
    header = ",".join(f"col{c}" for c in range(1, columns + 1))
    lines = [header] + [
        ",".join([f"row{r}"] + [f"value {r}.{c}" for c in range(2, columns + 1)])
        for r in range(1, rows + 1)
    ]
    return "\n".join(lines) + "\n"
