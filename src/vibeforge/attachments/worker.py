"""The extraction worker: a short-lived process that reads one untrusted file.

PDF parsing and image decoding run here, never in the server: the process caps its own
memory, CPU time and file sizes before it reads a byte, and the server kills it at its
deadline or when the extraction is cancelled. A job arrives as JSON on stdin, the answer
leaves as one JSON line on stdout: `{"ok": true, ...}` or `{"ok": false, "code", "detail"}`.

- `inspect`: the cheap checks an upload waits for (a PDF's pages, encryption and content
  streams that decompress past the cap; an image's format, pixels and integrity).
- `extract`: the text of every page, row or line, in blocks with their tokens, written to
  `extract.json` beside the blob; for an image, a copy small enough for a model.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from vibeforge.attachments.blocks import Block, Extract, decode_text, text_extract
from vibeforge.attachments.kinds import TEXT_KINDS, Kind
from vibeforge.tokencount import TOKENS_PER_IMAGE, estimate_tokens

MODEL_IMAGE_SIDE = 2048  # the longest side of the copy a model is sent
STREAM_BYTES = 32 * 1024 * 1024  # what one PDF stream may decompress to
PDF_CONTENT_BYTES = 256 * 1024 * 1024  # what all of a PDF's page contents may decompress to
MAX_TEXT_CHARS = 50_000_000


class Refused(Exception):
    """The file is not acceptable; `code` and the message go back to the server."""

    def __init__(self, detail: str, code: str = "invalid_attachment") -> None:
        super().__init__(detail)
        self.code = code


def limit_resources(memory_mb: int, cpu_s: float) -> None:
    """Cap this process before it touches the file (a bomb meets the cap, not the host)."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, int(cpu_s) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    written = 512 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (written, written))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- PDF -------------------------------------------------------------------------------------


def _pdf_reader(path: Path, max_pages: int) -> Any:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(str(path), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Refused("the PDF is encrypted with a password")
        pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise Refused(f"the PDF cannot be read: {error}"[:300]) from None
    if pages == 0:
        raise Refused("the PDF has no pages")
    if pages > max_pages:
        raise Refused(f"the PDF has {pages} pages; the limit is {max_pages}")
    return reader


def _pdf_limits() -> Any:
    import pypdf

    return pypdf.apply_configuration(
        zlib_maximum_output_length=STREAM_BYTES,
        lzw_maximum_output_length=STREAM_BYTES,
        run_length_maximum_output_length=STREAM_BYTES,
        brotli_maximum_output_length=STREAM_BYTES,
        array_based_stream_maximum_output_length=STREAM_BYTES,
        maximum_declared_stream_length=STREAM_BYTES,
        stream_decoding_work_maximum_length=4 * STREAM_BYTES,
    )


def inspect_pdf(path: Path, max_pages: int) -> dict[str, Any]:
    """Pages and content streams, decompressed within the caps (a bomb is refused here)."""
    from pypdf.errors import LimitReachedError

    with _pdf_limits():
        reader = _pdf_reader(path, max_pages)
        total = 0
        try:
            for page in reader.pages:
                contents = page.get_contents()
                total += len(contents.get_data()) if contents is not None else 0
                if total > PDF_CONTENT_BYTES:
                    raise LimitReachedError("page contents")
        except LimitReachedError:
            raise Refused(
                "the PDF's content decompresses past the limit (a decompression bomb?)"
            ) from None
        return {"units": len(reader.pages)}


def extract_pdf(path: Path, max_pages: int) -> Extract:
    """The text of every page, one block per page."""
    from pypdf.errors import LimitReachedError

    blocks = []
    chars = 0
    with _pdf_limits():
        reader = _pdf_reader(path, max_pages)
        try:
            for number, page in enumerate(reader.pages, start=1):
                text = page.extract_text() or ""
                chars += len(text)
                if chars > MAX_TEXT_CHARS:
                    raise Refused(f"the PDF holds over {MAX_TEXT_CHARS} characters of text")
                blocks.append(Block(number, number, text, estimate_tokens(text)))
        except LimitReachedError:
            raise Refused("the PDF decompresses past the limit (a decompression bomb?)") from None
    return Extract(kind=Kind.PDF, unit="page", count=len(blocks), blocks=blocks)


# -- images ----------------------------------------------------------------------------------


def _open_image(path: Path, image_format: str, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses larger ones as bombs
    try:
        image = Image.open(path, formats=[image_format])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise Refused(f"the image cannot be read as {image_format}: {error}"[:300]) from None
    except Image.DecompressionBombError:
        raise Refused(f"the image has over {max_pixels} pixels") from None
    width, height = image.size
    if width * height > max_pixels:
        raise Refused(f"the image is {width}x{height}: over the limit of {max_pixels} pixels")
    return image


def inspect_image(path: Path, image_format: str, max_pixels: int) -> dict[str, Any]:
    """Format, size and integrity, without keeping the decoded pixels."""
    image = _open_image(path, image_format, max_pixels)
    width, height = image.size
    try:
        image.verify()
    except Exception as error:  # Pillow raises many kinds for broken data
        raise Refused(f"the {image_format} image is damaged: {error}"[:300]) from None
    return {"width": width, "height": height}


def extract_image(path: Path, image_format: str, max_pixels: int, out: Path) -> Extract:
    """Decode the image fully and write the copy a model is sent (its first frame, at most
    MODEL_IMAGE_SIDE on its longest side: PNG when it has transparency, else JPEG)."""
    image = _open_image(path, image_format, max_pixels)
    width, height = image.size
    try:
        image.load()
        image.thumbnail((MODEL_IMAGE_SIDE, MODEL_IMAGE_SIDE))
        transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        if transparent:
            copy, name, media_type = image.convert("RGBA"), "model.png", "image/png"
        else:
            copy, name, media_type = image.convert("RGB"), "model.jpg", "image/jpeg"
        partial = out / f".{name}.{os.getpid()}.part"  # two workers may share a blob
        copy.save(partial, format="PNG" if transparent else "JPEG", quality=85)
        os.replace(partial, out / name)
    except Refused:
        raise
    except Exception as error:
        raise Refused(f"the {image_format} image cannot be decoded: {error}"[:300]) from None
    block = Block(1, 1, "", TOKENS_PER_IMAGE)
    return Extract(
        kind=Kind.IMAGE,
        unit="image",
        count=1,
        blocks=[block],
        width=width,
        height=height,
        image_file=name,
        image_media_type=media_type,
    )


# -- jobs ------------------------------------------------------------------------------------


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Carry out one job; Refused for a file that is not acceptable."""
    path = Path(job["path"])
    kind = Kind(job["kind"])
    limits = job["limits"]
    if job["op"] == "inspect":
        if kind == Kind.PDF:
            return inspect_pdf(path, limits["pdf_pages"])
        if kind == Kind.IMAGE:
            return inspect_image(path, job["image_format"], limits["image_pixels"])
        return {}
    out = Path(job["out"])
    if kind == Kind.PDF:
        extract = extract_pdf(path, limits["pdf_pages"])
    elif kind == Kind.IMAGE:
        extract = extract_image(path, job["image_format"], limits["image_pixels"], out)
    elif kind in TEXT_KINDS:
        extract = text_extract(decode_text(path.read_bytes()), kind)
    else:  # pragma: no cover - every kind is handled above
        raise Refused(f"no extraction for {kind}")
    partial = out / f".extract.json.{os.getpid()}.part"  # two workers may share a blob
    partial.write_text(json.dumps(extract.to_json(), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, out / "extract.json")
    return {
        "kind": extract.kind,
        "unit": extract.unit,
        "units": extract.count,
        "tokens": extract.tokens,
        "width": extract.width,
        "height": extract.height,
    }


def main() -> int:
    """Read a job from stdin, answer on stdout."""
    job = json.loads(sys.stdin.read())
    limit_resources(job["limits"]["memory_mb"], job["limits"]["cpu_s"])
    try:
        answer = {"ok": True, **run_job(job)}
    except Refused as refused:
        answer = {"ok": False, "code": refused.code, "detail": str(refused)}
    except MemoryError:
        detail = "reading the file needs more memory than an extraction may use"
        answer = {"ok": False, "code": "invalid_attachment", "detail": detail}
    except RecursionError:
        detail = "the file nests too deeply to read"
        answer = {"ok": False, "code": "invalid_attachment", "detail": detail}
    except Exception as error:  # a parser's own failure on a malformed file
        detail = f"the file could not be read ({type(error).__name__}: {error})"[:300]
        answer = {"ok": False, "code": "extraction_failed", "detail": detail}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
