"""Persona images: checked by their content, never by a file name, and never decoded here.

The format is told by magic bytes and confirmed by Pillow reading the header; the size is
capped before Pillow sees the bytes, and the pixel count from the header before anything would
be decompressed, so a small file claiming a huge picture (a pixel bomb) costs nothing.
`verify()` checks the structure (PNG chunk checksums, ...) without decoding pixels.
Images live under the data directory, outside every git repository, written atomically.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from vibeforge.crypto import write_private_file
from vibeforge.errors import InvalidInput, PayloadTooLarge

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 8192
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an accepted image is."""

    content_type: str
    width: int
    height: int
    size: int


def sniff(data: bytes) -> str | None:
    """The format the magic bytes announce (PNG, JPEG, WEBP, GIF), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_image(data: bytes) -> ImageInfo:
    """Accept a PNG, JPEG, WebP or GIF within the caps (blocking: run it in a thread)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(f"an image is at most {MAX_IMAGE_BYTES} bytes")
    kind = sniff(data)
    if kind is None:
        raise InvalidInput("not a PNG, JPEG, WebP or GIF image (judged by its content)")
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size  # from the header: nothing is decoded yet
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise PayloadTooLarge(
                        f"the image is {width}x{height} pixels; at most {MAX_PIXELS} pixels "
                        f"and {MAX_SIDE} a side"
                    )
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(f"the image has more than {MAX_PIXELS} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise InvalidInput(f"the {kind} image is damaged or not what its header says") from None
    if width < 1 or height < 1:
        raise InvalidInput("the image has no pixels")
    return ImageInfo(CONTENT_TYPES[kind], width, height, len(data))


def image_path(images_dir: Path, persona_id: str) -> Path:
    """Where a persona's image is kept."""
    return images_dir / persona_id


def store_image(images_dir: Path, persona_id: str, data: bytes) -> None:
    """Write the image atomically (a reader sees the old one or the new one, never half)."""
    write_private_file(image_path(images_dir, persona_id), data)


def remove_image(images_dir: Path, persona_id: str) -> None:
    """Forget a persona's image file."""
    image_path(images_dir, persona_id).unlink(missing_ok=True)
