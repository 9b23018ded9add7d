"""Paths a hostile or careless client sends: several members of every class the rule refuses,
and a check that a bare repository is still clean by `git fsck --strict`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

HFS_IGNORABLE = ["\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u206a", "\ufeff"]

HOSTILE: dict[str, list[str]] = {
    "dotgit": [".git/config", "sub/.git/HEAD"],
    "case": [".GIT/config", ".Git/hooks/pre-commit", "a/.gIT/x"],
    "ntfs short name": ["GIT~1/config", "git~1/hooks/post-checkout", "sub/Git~2/x"],
    "ntfs trailing": [".git./config", ".git /config", "a/.git. . ./x", ".GIT.../x"],
    "ntfs stream": [".git::$INDEX_ALLOCATION/config", ".git:$DATA", "x/git~1:s/y"],
    "hfs ignorable": [f".g{mark}it/config" for mark in HFS_IGNORABLE] + ["\ufeff.git/x"],
    "look-alike": ["\uff0egit/config", ".g\u0131t/x"],
    "gitmodules": [".gitmodules", "sub/.gitmodules", "GITMOD~1", "gi7eba~1", ".gitmodules."],
    "special spellings": [".GITATTRIBUTES", "gitatt~1", ".GitIgnore", "MAILMA~1"],
    "gitattributes directory": [".gitattributes/x"],
    "windows": ["aux.py", "con", "sub/nul.txt", "com1.log", "what?.py", "a|b", "x.", "d /y"],
    "control": [
        "nul\x00byte.py",
        "a\x01b.py",
        "tab\there",
        "esc\x1b[31m.py",
        "c1\x85.py",
        "del\x7f.py",
    ],
    "bidi": ["evil\u202egnp.py", "iso\u2066late.py", "rlm\u200f.py", "alm\u061c.py"],
    "invisible": ["zero\u200bwidth.py", "soft\u00adhyphen.py", "line\u2028sep.py"],
    "not utf-8": ["bad\ufffdname.py", "lone\ud800.py", "\udcff.py"],
    "leaving": ["../escape.py", "a/../../b", "/etc/passwd", "C:/x", "a\\b.py"],
}
ALL_HOSTILE = [path for paths in HOSTILE.values() for path in paths]
# URLs whose percent-decoded bytes are not UTF-8: a server repairs each of them to U+FFFD.
BAD_URL_PATHS = ["a%FF.py", "%C3", "x/%C0%AE%C0%AE/y", "%ED%A0%80.py", "%FE%FF", "ok/%E2%82.py"]


def url_quote(path: str) -> str:
    """The path as a URL path: UTF-8 percent-encoded (lone surrogates as their raw bytes), with
    `..` and a leading `/` encoded too, so no client library resolves them before sending."""
    quoted = quote(path.encode("utf-8", "surrogatepass"), safe="/")
    parts = ["%2E%2E" if part == ".." else part for part in quoted.split("/")]
    return "%2F" + "/".join(parts[1:]) if quoted.startswith("/") else "/".join(parts)


def fsck_strict(repository: Path) -> None:
    """Fail unless `git fsck --strict` finds nothing wrong with the repository."""
    found = subprocess.run(
        ["git", f"--git-dir={repository}", "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    problems = [
        line for line in found.stderr.splitlines() if line and not line.startswith("Checking")
    ]
    assert found.returncode == 0 and not problems, found.stderr


def tree_paths(repository: Path) -> list[str]:
    """Every path at the head of the repository."""
    listed = subprocess.run(
        ["git", f"--git-dir={repository}", "ls-tree", "-r", "-z", "--name-only", "main"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return sorted(p.decode("utf-8", "surrogateescape") for p in listed.stdout.split(b"\0") if p)


async def versions(client: httpx.AsyncClient, project: str) -> list[str]:
    """The ids of a project's versions, newest first."""
    page = (await client.get(f"/projects/{project}/versions", params={"limit": 500})).json()
    return [item["id"] for item in page["items"]]


async def send_json(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any]
) -> httpx.Response:
    """Send `body` as JSON the way a careless client's encoder would: lone surrogates escaped
    as `\\udXXX` (httpx's own encoder refuses them)."""
    headers = {"content-type": "application/json"}
    return await client.request(method, url, content=json.dumps(body).encode(), headers=headers)
