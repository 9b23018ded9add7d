"""The errors of attachments: refused content, limits reached, attachments not ready yet."""

from __future__ import annotations

from vibeforge.errors import Conflict, InvalidInput


class InvalidAttachment(InvalidInput):
    """The content is not what it claims, not a supported type, or over a content limit
    (pages, pixels, a decompression bomb)."""

    code = "invalid_attachment"


class LimitReached(Conflict):
    """A session (or project) already holds as many attachments as it may."""

    code = "limit_reached"


class AttachmentNotReady(Conflict):
    """A message names an attachment whose extraction has not finished."""

    code = "attachment_not_ready"


class AttachmentFailed(Conflict):
    """A message names an attachment whose extraction failed."""

    code = "attachment_failed"
