"""The names a project file may have: text every file system stores as written, never `.git`.

A project is a git repository that users clone onto Linux, macOS and Windows. git itself
drops, at `update-index` time and with exit status 0, names that NTFS or HFS+ would read as
`.git`; `git fsck --strict` flags the rest. Each rule below refuses a class of names, so a
write either stores exactly what it names or is refused with a reason (never repaired: a
repaired name is a file the client did not name).

- characters: text only (no lone surrogates, no U+FFFD), no C0/C1 controls, no invisible
  format characters (bidirectional embeddings, overrides and isolates, zero-width joiners,
  byte order marks: HFS+ ignores several of them, so `.g\\u200cit` is `.git` there), no line or
  paragraph separators, no noncharacters, none of `<>:"|?*` (Windows cannot store them; `:`
  opens an NTFS alternate data stream, so `.git::$INDEX_ALLOCATION` is `.git`);
- components: no trailing dot or space (NTFS drops them: `.git.` is `.git`), no Windows
  device names (`con`, `aux.py`, `com1.txt`);
- git's special names, compared the way git compares them (ASCII case folding, NTFS 8.3
  short names such as `GIT~1` and `GI7EBA~1`, HFS+ ignorable code points) and further with
  NFKC so look-alikes (`．ｇｉｔ`) are caught too: `.git` is refused everywhere; `.gitmodules`
  too (projects hold no submodules, and fsck checks what such a file says); `.gitattributes`,
  `.gitignore` and `.mailmap` only in their own spelling, `.gitattributes` only as a file.
"""

from __future__ import annotations

import re
import unicodedata

from vibeforge.errors import InvalidPath

# Windows cannot hold these in a file name; ':' also names NTFS alternate data streams.
WINDOWS_RESERVED_CHARACTERS = frozenset('<>:"|?*')
_DEVICE = re.compile(r"(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9¹²³])", re.IGNORECASE)
_SHORT_NAME = re.compile(r"([^~]{0,6})~([0-9]+)")


class _Special:
    """One of git's special names, with the 8.3 short names NTFS may give it."""

    def __init__(self, name: str, ntfs_hash_prefix: str) -> None:
        self.name = name
        self._stem = name[1:7]  # the regular short name: the first six letters after the dot
        self._hash_prefix = ntfs_hash_prefix  # the fall-back short name git also guards

    def matches(self, skeleton: str) -> bool:
        """True when a folded name is this special name or one of its short names."""
        if skeleton == self.name:
            return True
        short = _SHORT_NAME.fullmatch(skeleton)
        if short is None:
            return False
        stem, number = short.groups()
        if stem == self._stem:
            return True  # `git~1`, `gitmod~2`: any number, not only the ones git expects
        # The fall-back form is eight characters: a prefix of the hash, '~', a number.
        return (
            bool(self._hash_prefix)
            and len(skeleton) == 8
            and self._hash_prefix.startswith(stem)
            and not number.startswith("0")
        )


DOTGIT = _Special(".git", "")
GITMODULES = _Special(".gitmodules", "gi7eba")
# Allowed in their own spelling only; other spellings name the same file elsewhere.
CANONICAL_ONLY = (
    _Special(".gitattributes", "gi7d29"),
    _Special(".gitignore", "gi250a"),
    _Special(".mailmap", "maba30"),
)
GITATTRIBUTES = CANONICAL_ONLY[0].name


def check_text(path: str) -> None:
    """Refuse a path holding a character that is not plain, visible, storable file-name text."""
    for char in path:
        point = ord(char)
        category = unicodedata.category(char)
        if category == "Cs":
            raise InvalidPath(
                f"path is not valid UTF-8 text: it holds the lone surrogate U+{point:04X}"
            )
        if char == "\ufffd":
            raise InvalidPath(
                "path holds U+FFFD, the replacement character: the name was not valid UTF-8"
                " where it came from, and a repaired name is not the name that was sent"
            )
        if char == "\x00":
            raise InvalidPath("path contains a NUL byte")
        if category == "Cc":
            raise InvalidPath(f"path contains the control character U+{point:04X}")
        if category == "Cf":
            raise InvalidPath(
                f"path contains the invisible format character U+{point:04X}"
                f" ({_name(char)}): it changes how a name is shown or compared, not what it"
                " spells (bidirectional controls reorder it; HFS+ ignores several of them)"
            )
        if category in ("Zl", "Zp"):
            raise InvalidPath(f"path contains the line or paragraph separator U+{point:04X}")
        if (point & 0xFFFE) == 0xFFFE or 0xFDD0 <= point <= 0xFDEF:
            raise InvalidPath(f"path contains the Unicode noncharacter U+{point:04X}")
        if char in WINDOWS_RESERVED_CHARACTERS:
            why = " (it names an NTFS alternate data stream)" if char == ":" else ""
            raise InvalidPath(f"path contains {char!r}, which Windows cannot store in a name{why}")


def check_special_name(part: str, *, last: bool) -> None:
    """Refuse a path component that names `.git` or one of git's special files otherwise than
    in its own spelling (or `.gitmodules` at all)."""
    skeleton = _skeleton(part)
    if DOTGIT.matches(skeleton):
        raise InvalidPath(_alias_detail(part, DOTGIT, "a path may not reach into .git"))
    if GITMODULES.matches(skeleton):
        raise InvalidPath(
            _alias_detail(part, GITMODULES, "projects hold no submodules, so it is refused")
        )
    for special in CANONICAL_ONLY:
        if special.matches(skeleton) and part != special.name:
            raise InvalidPath(_alias_detail(part, special, f"spell it {special.name!r}"))
    if part == GITATTRIBUTES and not last:
        raise InvalidPath(f"{GITATTRIBUTES!r} may only name a file, not a directory")


def check_portable(part: str) -> None:
    """Refuse a path component that Windows would store under another name, or as a device."""
    if part.endswith((".", " ")):
        raise InvalidPath(
            f"path component {part!r} ends with a dot or a space, which Windows drops"
            f" (it would name {part.rstrip('. ')!r})"
        )
    if part.strip() == "":
        raise InvalidPath("path has a blank component")
    device = _DEVICE.fullmatch(part.split(".", 1)[0].rstrip(" "))
    if device is not None:
        raise InvalidPath(
            f"path component {part!r} is the Windows device name {device.group(0).upper()!r}"
        )


def check_special_content(path: str, content: bytes) -> None:
    """Refuse `.gitattributes` content that git cannot parse (fsck reports it as an error)."""
    if path.rsplit("/", 1)[-1] != GITATTRIBUTES:
        return
    # git's limits (attr.h): a line of 2048 bytes or more, or a file over 100 MiB.
    if len(content) > 100 * 1024 * 1024:
        raise InvalidPath(f"{path!r} is over 100 MiB, more than git reads of a .gitattributes")
    if any(len(line) >= 2048 for line in content.split(b"\n")):
        raise InvalidPath(f"{path!r} has a line of 2048 bytes or more, which git cannot parse")


def _skeleton(part: str) -> str:
    """The name as the most forgiving file system compares it: format characters dropped (the
    code points HFS+ ignores are among them), case and compatibility folded, then an NTFS
    stream suffix and trailing dots and spaces removed."""
    kept = "".join(char for char in part if unicodedata.category(char) != "Cf")
    folded = unicodedata.normalize("NFKC", kept.upper().lower()).casefold()
    return folded.split(":", 1)[0].rstrip(". ")


def _alias_detail(part: str, special: _Special, consequence: str) -> str:
    if part == special.name:
        return f"path component {part!r} is git's own {special.name!r}; {consequence}"
    return f"path component {part!r} names {special.name!r} ({_how(part)}); {consequence}"


def _how(part: str) -> str:
    """Why a spelling names a special file: the first rule that makes it so."""
    invisible = [char for char in part if unicodedata.category(char) == "Cf"]
    if invisible:
        return f"HFS+ ignores U+{ord(invisible[0]):04X} ({_name(invisible[0])}) in names"
    if ":" in part:
        return "NTFS reads what follows ':' as a stream of the same file"
    if part.endswith((".", " ")):
        return "NTFS drops trailing dots and spaces"
    if _SHORT_NAME.fullmatch(part.casefold()):
        return "it is an NTFS 8.3 short name"
    if unicodedata.normalize("NFKC", part) != part:
        return "it is a compatibility look-alike"
    return "Windows and macOS ignore case in names"


def _name(char: str) -> str:
    return unicodedata.name(char, "unnamed")
