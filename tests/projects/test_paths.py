"""Path normalisation keeps every path inside the project and never names `.git` anywhere."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibeforge.errors import InvalidPath
from vibeforge.projects.paths import MAX_PATH_BYTES, check_url_bytes, normalize_path

# The code points HFS+ skips when it compares names, as git lists them.
HFS_IGNORABLE = [
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x206A, 0x2070)),
    "\ufeff",
]
BIDI = [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\u200e", "\u200f"]


def refused(raw: str) -> str:
    """The detail of the refusal (the test fails if the path is accepted)."""
    with pytest.raises(InvalidPath) as caught:
        normalize_path(raw)
    return caught.value.detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("main.py", "main.py"),
        ("./src//app.py", "src/app.py"),
        ("a/./b/c.txt", "a/b/c.txt"),
        ("ünïcode/файл.py", "ünïcode/файл.py"),
        ("日本語/emoji🎉.md", "日本語/emoji🎉.md"),
        ("with space.py", "with space.py"),
        (" leading.py", " leading.py"),
        (".gitignore", ".gitignore"),
        ("sub/.gitignore", "sub/.gitignore"),
        (".gitattributes", ".gitattributes"),
        ("pkg/.gitattributes", "pkg/.gitattributes"),
        (".mailmap", ".mailmap"),
        (".gitkeep", ".gitkeep"),
        (".gitlab-ci.yml", ".gitlab-ci.yml"),
        (".git-blame-ignore-revs", ".git-blame-ignore-revs"),
        ("docs/.github/x.yml", "docs/.github/x.yml"),
        ("git/x.py", "git/x.py"),
        ("file~1.txt", "file~1.txt"),
        ("git~", "git~"),
        ("console.py", "console.py"),
        ("auxiliary/com10.py", "auxiliary/com10.py"),
        ("conftest.py", "conftest.py"),
    ],
)
def test_accepted_paths_are_canonical(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "./",
        "/etc/passwd",
        "../secret",
        "a/../../b",
        "a/..",
        "C:/windows",
        "a\\b.py",
        "x" * 256,
        "a/" * 600 + "b",
    ],
)
def test_paths_leaving_the_project_are_refused(raw: str) -> None:
    refused(raw)


@pytest.mark.parametrize("raw", ["dir/", "a/b/", "trailing//", "./x/"])
def test_a_trailing_slash_names_a_directory_and_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPath, match="names a directory"):
        normalize_path(raw)


# Each class, with several members, in the first and in a later component.
DOTGIT_ALIASES = {
    "case": [".GIT", ".Git", ".gIT", ".giT"],
    "ntfs short name": ["GIT~1", "git~1", "Git~2"],
    "ntfs trailing dots and spaces": [".git.", ".git ", ".git. . .", ".git...", ".GIT  "],
    "ntfs alternate data stream": [".git::$INDEX_ALLOCATION", ".git:$DATA", ".git:x", "git~1:y"],
    "hfs ignorable": [ch.join([".g", "it"]) for ch in HFS_IGNORABLE]
    + ["\ufeff.git", ".git\u200d", ".\u200cgit"],
    "look-alike": ["\uff0egit", ".\uff47\uff49\uff54", ".g\u0131t", ".GIT\uff0e"],
}


@pytest.mark.parametrize(
    "name", [name for names in DOTGIT_ALIASES.values() for name in names], ids=repr
)
@pytest.mark.parametrize("template", ["{}", "{}/config", "sub/{}/hooks/pre-commit", "a/b/{}"])
def test_every_alias_of_dotgit_is_refused_in_every_component(name: str, template: str) -> None:
    detail = refused(template.format(name))
    assert "'.git'" in detail and "may not reach into .git" in detail


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (".gitmodules", ".gitmodules"),
        ("sub/.gitmodules", ".gitmodules"),
        (".GitModules", ".gitmodules"),
        (".gitmodules.", ".gitmodules"),
        (".gitmodules:$DATA", ".gitmodules"),
        (".git\u200cmodules", ".gitmodules"),
        ("gitmod~1", ".gitmodules"),
        ("GI7EBA~1", ".gitmodules"),
        ("gi7eb~12", ".gitmodules"),
        (".gitmodules/x", ".gitmodules"),
        (".GITATTRIBUTES", ".gitattributes"),
        ("gitatt~1", ".gitattributes"),
        ("GI7D29~1", ".gitattributes"),
        (".gitattributes ", ".gitattributes"),
        (".GitIgnore", ".gitignore"),
        ("gitign~1", ".gitignore"),
        ("gi250a~3", ".gitignore"),
        (".git\ufeffignore", ".gitignore"),
        (".MailMap", ".mailmap"),
        ("mailma~1", ".mailmap"),
        ("MABA30~1", ".mailmap"),
    ],
)
def test_git_special_files_only_in_their_own_spelling(raw: str, special: str) -> None:
    assert repr(special) in refused(raw)


def test_gitattributes_is_a_file_never_a_directory() -> None:
    assert "may only name a file" in refused(".gitattributes/x")
    assert normalize_path("x/.gitattributes") == "x/.gitattributes"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("x.", "ends with a dot or a space"),
        ("dir./x.py", "ends with a dot or a space"),
        ("x ", "ends with a dot or a space"),
        ("notes.txt. ", "ends with a dot or a space"),
        ("ab:c.py", "alternate data stream"),
        ("file.txt:stream", "alternate data stream"),
        *((f"a{c}b", "Windows cannot store") for c in '<>"|?*'),
        *((name, "Windows device name") for name in ["con", "CON", "aux.py", "nul.txt", "prn"]),
        *((name, "Windows device name") for name in ["com1", "LPT9.log", "con .txt", "conin$"]),
        *((name, "Windows device name") for name in ["CONOUT$.x", "com\u00b9", "sub/aux/x.py"]),
        ("\u00a0", "blank component"),
    ],
)
def test_names_windows_would_store_otherwise_are_refused(raw: str, words: str) -> None:
    assert words in refused(raw)


@pytest.mark.parametrize(
    ("char", "words"),
    [
        *((chr(c), "control character") for c in [*range(1, 32), 0x7F, *range(0x80, 0xA0)]),
        ("\x00", "NUL"),
        *((c, "format character") for c in BIDI),
        *((c, "format character") for c in HFS_IGNORABLE),
        *((c, "format character") for c in ["\u200b", "\u00ad", "\u2060", "\u061c", "\U000e0041"]),
        ("\u2028", "line or paragraph separator"),
        ("\u2029", "line or paragraph separator"),
        *((c, "noncharacter") for c in ["\uffff", "\ufffe", "\ufdd0", "\U0001fffe"]),
        ("\ufffd", "U+FFFD"),
        *((c, "lone surrogate") for c in ["\ud800", "\udfff", "\udcff"]),
    ],
    ids=repr,
)
def test_characters_that_are_not_plain_visible_text_are_refused(char: str, words: str) -> None:
    for raw in (f"bad{char}name.py", f"ok/bad{char}/x.py", f"{char}lead.py"):
        assert words in refused(raw), raw


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        (b"/projects/p/files/a%FF.py", "%FF"),
        (b"/projects/p/files/%C3", "%C3"),
        (b"/projects/p/files/%C0%AE%C0%AE/x", "%C0"),  # an overlong '.'
        (b"/projects/p/files/%ED%A0%80.py", "%ED"),  # a surrogate, encoded
        (b"/projects/p/files/%F8%88%80%80%80", "%F8"),
        (b"/projects/p/files/ok/%E2%82", "%E2%82"),
    ],
)
def test_a_url_whose_bytes_are_not_utf8_is_refused(url: bytes, bad: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        check_url_bytes(url)
    assert "not valid UTF-8" in caught.value.detail and bad in caught.value.detail


def test_a_url_of_utf8_bytes_is_accepted() -> None:
    check_url_bytes(b"/projects/p/files/%C3%A9t%C3%A9/%E6%97%A5.py")
    check_url_bytes("/projects/p/files/plain/été.py".encode())


# -- properties -------------------------------------------------------------------------------

components = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=20,
)
# Pieces of the names git guards, so generated names come close to them often.
FRAGMENTS = [
    ".", "g", "G", "i", "I", "t", "T", "git", ".git", "GIT", "~", "~1", "~2", " ", ":", "$DATA",
    "modules", "attributes", "ignore", "mailmap", "gi7eba", "gi7d29", "gi250a", "maba30",
    "con", "aux", "nul", "com1", "\uff0e", "\u0131", "\ufffd", *HFS_IGNORABLE[:4], "\ufeff",
    "\u202e", "\u2066", "\x85", "\x1b", "a", "x.py",
]  # fmt: skip
near_misses = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map("".join)


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def git_guards(name: str) -> set[str]:
    """Which of git's guarded names `name` is, by git's own comparisons (written from their
    documented behaviour: NTFS trailing dots and spaces, streams, 8.3 names; HFS+ ignorables)."""
    found = set()
    hfs = _ascii_lower("".join(c for c in name if c not in HFS_IGNORABLE))
    ntfs = _ascii_lower(name.split(":", 1)[0].rstrip(" ."))
    shorts = {"git": "", "gitmodules": "gi7eba", "gitattributes": "gi7d29"}
    shorts |= {"gitignore": "gi250a", "mailmap": "maba30"}
    for special, hashed in shorts.items():
        if hfs == "." + special or ntfs == "." + special:
            found.add("." + special)
        regular = special[:6] + "~" + ("1" if special == "git" else "[1-4]")
        if re.fullmatch(regular, ntfs):
            found.add("." + special)
        fallback = re.fullmatch(r"([^~]{0,6})~([1-9][0-9]*)", ntfs)
        if hashed and len(ntfs) == 8 and fallback and hashed.startswith(fallback.group(1)):
            found.add("." + special)
    return found


@given(st.lists(st.one_of(components, near_misses, st.sampled_from(["..", ".", ""])), max_size=8))
def test_accepted_paths_stay_inside_and_name_nothing_git_guards(parts: list[str]) -> None:
    try:
        path = normalize_path("/".join(parts))
    except InvalidPath:
        return
    segments = path.split("/")
    assert not path.startswith("/")
    assert ".." not in segments and "." not in segments and "" not in segments
    for segment in segments:
        guarded = git_guards(segment)
        assert guarded <= {segment}, (segment, guarded)
        assert segment in (".gitignore", ".mailmap", ".gitattributes") or not guarded
        assert segment[-1] not in ". "
    assert len(path.encode()) <= MAX_PATH_BYTES
    assert normalize_path(path) == path


GUARDED = [".git", "git~1", ".gitmodules", "gitmod~1", "gi7eba~1", ".gitattributes", "gitatt~1"]
GUARDED += ["gi7d29~1", ".gitignore", "gitign~1", "gi250a~1", ".mailmap", "mailma~1", "maba30~1"]
CANONICAL = {".gitattributes", ".gitignore", ".mailmap"}


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """A guarded name in one of the disguises file systems see through."""
    chars = [c.upper() if draw(st.booleans()) else c for c in draw(st.sampled_from(GUARDED))]
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(HFS_IGNORABLE)))
    tail = draw(st.sampled_from(["", "", "", ".", " ", ". .", "..."]))
    stream = draw(st.sampled_from(["", "", "", ":", "::$INDEX_ALLOCATION", ":$DATA", ":x"]))
    return "".join(chars) + tail + stream


@given(disguised(), st.sampled_from(["{}", "{}/x.py", "a/{}", "a/{}/b"]))
def test_no_disguise_of_a_guarded_name_gets_through(name: str, template: str) -> None:
    # Disguises combine (`\u200c.git.`): git checks each file system's rules alone, this
    # rule refuses the union.
    raw = template.format(name)
    if name in CANONICAL and template in ("{}", "a/{}"):
        assert normalize_path(raw) == raw
    else:
        refused(raw)


@given(st.text(max_size=60))
def test_any_string_is_normalised_or_refused_cleanly(raw: str) -> None:
    try:
        path = normalize_path(raw)
    except InvalidPath as error:
        assert error.detail
        return
    assert normalize_path(path) == path
    path.encode("utf-8")  # always encodable: no surrogates got through


@given(st.binary(max_size=12))
def test_url_bytes_are_accepted_exactly_when_they_are_utf8(data: bytes) -> None:
    encoded = "".join(f"%{byte:02X}" for byte in data).encode()
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    try:
        check_url_bytes(b"/projects/p/files/" + encoded)
    except InvalidPath:
        assert not valid
    else:
        assert valid
