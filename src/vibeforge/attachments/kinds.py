"""What an uploaded file is, told by its bytes: images and PDFs by their signatures, text by
decoding it all as UTF-8. The name only chooses between flavours of text (CSV, JSON, Markdown,
code), and extraction checks that choice against the content; a name that claims an image or
a PDF the bytes are not is refused (a fake image is not stored as "text")."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from enum import StrEnum

from vibeforge.attachments.errors import InvalidAttachment

HEAD_BYTES = 8192  # what the signatures are read from


class Kind(StrEnum):
    """What an attachment is."""

    TEXT = "text"
    CODE = "code"
    MARKDOWN = "markdown"
    CSV = "csv"
    JSON = "json"
    PDF = "pdf"
    IMAGE = "image"


TEXT_KINDS = frozenset({Kind.TEXT, Kind.CODE, Kind.MARKDOWN, Kind.CSV, Kind.JSON})
MEDIA_TYPES = {
    Kind.TEXT: "text/plain",
    Kind.CODE: "text/plain",
    Kind.MARKDOWN: "text/markdown",
    Kind.CSV: "text/csv",
    Kind.JSON: "application/json",
    Kind.PDF: "application/pdf",
}
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "PNG"),
    (b"\xff\xd8\xff", "image/jpeg", "JPEG"),
    (b"GIF87a", "image/gif", "GIF"),
    (b"GIF89a", "image/gif", "GIF"),
)
IMAGE_NAMES = frozenset({"png", "jpg", "jpeg", "gif", "webp"})
_CODE = "py pyi js mjs cjs ts tsx jsx java kt go rs rb php c h cc cpp hpp cs swift scala sh"
_CONFIG = "bash zsh sql html css scss vue svelte lua r jl dart ex exs erl hs ml toml yaml yml"
CODE_NAMES = frozenset(f"{_CODE} {_CONFIG} ini cfg xml based".split())
# Text may hold tabs, line and page breaks and escape sequences; other C0 controls mean binary.
_BINARY_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the bytes are: a kind, a media type, and for images the format Pillow names."""

    kind: Kind
    media_type: str
    image_format: str | None = None


class TextCheck:
    """Decodes a stream as UTF-8 as it arrives, so telling text from binary costs no second
    pass over the file: it stays `is_text` while every byte so far is text."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.is_text = True

    def feed(self, data: bytes, final: bool = False) -> None:
        """Take the next bytes (`final` with the last ones)."""
        if not self.is_text:
            return
        if _BINARY_CONTROL.search(data):
            self.is_text = False
            return
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError:
            self.is_text = False


def extension(name: str) -> str:
    """The lower-case extension of a file name ('' for none)."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else ""


def sniff(head: bytes, name: str, is_text: bool) -> Sniffed:
    """The kind of a file from its first bytes and whether it all decodes as text;
    InvalidAttachment for a type vibeforge does not take, or a name the bytes contradict."""
    ext = extension(name)
    found = _binary_kind(head)
    claimed = "image" if ext in IMAGE_NAMES else "PDF" if ext == "pdf" else None
    if found is not None:
        if claimed == "image" and found.kind != Kind.IMAGE:
            raise InvalidAttachment(f"{name!r} is named as an image but holds a PDF")
        if claimed == "PDF" and found.kind != Kind.PDF:
            raise InvalidAttachment(f"{name!r} is named as a PDF but holds an image")
        return found
    if claimed is not None:
        raise InvalidAttachment(f"{name!r} is named as {_an(claimed)} but its bytes are not one")
    if not is_text:
        raise InvalidAttachment(
            f"{name!r} is neither UTF-8 text nor a PDF or PNG, JPEG, WebP or GIF image"
        )
    kind = text_kind(ext)
    return Sniffed(kind, MEDIA_TYPES[kind])


def text_kind(ext: str) -> Kind:
    """The flavour of text a name suggests (extraction checks it against the content)."""
    if ext in ("csv", "tsv"):
        return Kind.CSV
    if ext == "json":
        return Kind.JSON
    if ext in ("md", "markdown"):
        return Kind.MARKDOWN
    if ext in CODE_NAMES:
        return Kind.CODE
    return Kind.TEXT


def _binary_kind(head: bytes) -> Sniffed | None:
    for signature, media_type, image_format in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return Sniffed(Kind.IMAGE, media_type, image_format)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(Kind.IMAGE, "image/webp", "WEBP")
    # The PDF header may follow some junk; readers look for it in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return Sniffed(Kind.PDF, MEDIA_TYPES[Kind.PDF])
    return None


def _an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
