"""Python environments for programs under test: built outside the sandbox, cached, shown to it
read-only.

Without a `requirements.txt` a program gets the base environment, where `openai` imports (the
server's own installed `openai` and what it depends on, copied when the sandbox's Python is the
server's minor version, else installed by pip). With one, it gets a virtual environment of
exactly those requirements, built once per content (cached by its hash). pip installs wheels
only (`--only-binary=:all:`): no package's build code ever runs outside the sandbox. A
requirements file may name packages and versions, nothing else (no URLs, paths or options
pointing pip at a host file or another index); the server's own pip arguments
(`VIBEFORGE_TEST_PIP_ARGS`, e.g. `--no-index --find-links DIR`) are added to every install.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata as metadata
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from vibeforge.errors import Unavailable, VibeforgeError
from vibeforge.sandbox import isolation_support

BASE_PACKAGES = ("openai",)
REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS = 200
INSTALL_TIMEOUT_S = 900
# What pip may read of the server's environment: where the network is, never a key.
PIP_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
PIP_ENV_PREFIXES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT")


class InstallFailed(VibeforgeError):
    """The program's environment could not be built; the test run is an `error`."""

    code = "install_failed"
    status = 422


@dataclass(frozen=True, slots=True)
class PythonEnvironment:
    """A virtual environment a sandbox is shown read-only; its `bin` goes first on PATH."""

    root: Path
    name: str  # `base` or `requirements:<hash>`

    @property
    def bin(self) -> str:
        """The directory put in front of the program's PATH."""
        return str(self.root / "bin")


def parse_requirements(text: str) -> list[str]:
    """The requirement lines of a requirements.txt, normalised; InstallFailed for anything
    but `name[extras] specifiers ; markers` (options, URLs, paths, includes)."""
    lines: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise InstallFailed(
                f"{REQUIREMENTS_FILE} line {number}: options ({line.split()[0]}) are not allowed; "
                "name packages and versions only"
            )
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise InstallFailed(f"{REQUIREMENTS_FILE} line {number}: {error}") from None
        if requirement.url:
            raise InstallFailed(
                f"{REQUIREMENTS_FILE} line {number}: URLs and paths are not allowed; "
                "name packages and versions only"
            )
        lines.append(str(requirement))
    if len(lines) > MAX_REQUIREMENTS:
        raise InstallFailed(f"{REQUIREMENTS_FILE} names more than {MAX_REQUIREMENTS} packages")
    return lines


async def sandbox_python() -> str:
    """The interpreter `python3` means inside the sandbox (environments are built with it)."""
    caps = await isolation_support()
    candidates = ["/usr/local/bin/python3", "/usr/bin/python3"]
    if caps.python_prefix:
        candidates.insert(0, os.path.join(caps.python_prefix, "bin", "python3"))
    found = await asyncio.to_thread(lambda: [c for c in candidates if os.path.exists(c)])
    if not found:
        raise Unavailable("no python3 inside the sandbox")
    return found[0]


class Environments:
    """The cache of environments under one directory (traversable by the sandbox's uids)."""

    def __init__(self, root: Path, pip_args: Sequence[str] = ()) -> None:
        self.root = root
        self.pip_args = list(pip_args)
        self._locks: dict[str, asyncio.Lock] = {}
        self._python: tuple[str, str] | None = None

    async def for_files(self, files: dict[str, bytes]) -> PythonEnvironment:
        """The environment of a project's files: its requirements', or the base one."""
        declared = files.get(REQUIREMENTS_FILE)
        if declared is None:
            return await self.base()
        try:
            text = declared.decode("utf-8")
        except UnicodeDecodeError:
            raise InstallFailed(f"{REQUIREMENTS_FILE} is not UTF-8 text") from None
        return await self.requirements(parse_requirements(text))

    async def _interpreter(self) -> tuple[str, str]:
        if self._python is None:
            python = await sandbox_python()
            version = await asyncio.to_thread(_python_version, python)
            self._python = (python, version)
        return self._python

    async def base(self) -> PythonEnvironment:
        """The environment where `openai` imports."""
        python, version = await self._interpreter()
        own = "%d.%d" % sys.version_info[:2]  # noqa: UP031 (the form `python -V` compares)
        closure = _closure(BASE_PACKAGES) if own == version else {}
        pins = sorted(f"{name}=={dist.version}" for name, dist in closure.items())
        key = _key({"base": pins or list(BASE_PACKAGES), "python": version, "pip": self.pip_args})
        if closure:
            return await self._build(f"base-{key}", "base", lambda tmp: _copy(python, closure, tmp))
        wanted = [f"{name}=={metadata.version(name)}" for name in BASE_PACKAGES]
        return await self._build(
            f"base-{key}", "base", lambda tmp: self._install(python, wanted, tmp)
        )

    async def requirements(self, lines: list[str]) -> PythonEnvironment:
        """A virtual environment holding exactly `lines` (and what they need)."""
        python, version = await self._interpreter()
        key = _key({"requirements": lines, "python": version, "pip": self.pip_args})
        return await self._build(
            f"req-{key}", f"requirements:{key}", lambda tmp: self._install(python, lines, tmp)
        )

    async def _build(self, directory: str, name: str, make: object) -> PythonEnvironment:
        lock = self._locks.setdefault(directory, asyncio.Lock())
        async with lock:
            root = await asyncio.to_thread(self._checked_root)
            target = root / directory
            if not (target / ".complete").exists():
                await asyncio.to_thread(_build_once, root, target, make)
        return PythonEnvironment(target, name)

    def _checked_root(self) -> Path:
        """The cache directory, made if missing; refused if someone else could plant in it."""
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = self.root.lstat()
        if (
            stat.S_ISLNK(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            raise Unavailable(
                f"{self.root} must be a directory of the server's user that only it can write"
            )
        self.root.chmod(0o755)  # the sandbox's uids must reach the environments inside
        return self.root

    def _install(self, python: str, lines: list[str], target: Path) -> None:
        _run([python, "-m", "venv", str(target)], "creating the virtual environment")
        (target / "requirements.txt").write_text("".join(line + "\n" for line in lines))
        home = target / ".pip-home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
        }
        env.update({k: v for k, v in os.environ.items() if k in PIP_ENV or k in PIP_ENV_PREFIXES})
        argv = [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--only-binary=:all:",
            *self.pip_args,
            "-r",
            str(target / "requirements.txt"),
        ]
        _run(argv, "pip install", env=env)
        shutil.rmtree(home, ignore_errors=True)


def _key(values: object) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:24]


def _python_version(python: str) -> str:
    probe = subprocess.run(
        [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    return probe.stdout.strip()


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            env=env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise InstallFailed(f"{what} took longer than {INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise InstallFailed(f"{what} failed (exit {done.returncode}): {tail}")


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another server process may build the same one
        yield


def _build_once(root: Path, target: Path, make: object) -> None:
    """Build in place (scripts pip writes name their venv's path) and mark it complete last:
    a build cut off by a crash is never used, and is redone."""
    with _flock(root / f"{target.name}.lock"):
        if (target / ".complete").exists():
            return
        shutil.rmtree(target, ignore_errors=True)
        try:
            make(target)  # type: ignore[operator]
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        (target / ".complete").write_text("")


def _closure(names: Sequence[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions `names` need, transitively (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


def _copy(python: str, closure: dict[str, metadata.Distribution], target: Path) -> None:
    """A venv without pip, holding copies of the installed distributions of `closure`."""
    _run([python, "-m", "venv", "--without-pip", str(target)], "creating the base environment")
    (site,) = (target / "lib").glob("python*/site-packages")
    for dist in closure.values():
        base = Path(str(dist.locate_file(""))).resolve()
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file))).resolve()
            if not source.is_relative_to(base) or not source.is_file():
                continue  # scripts in bin/ and the like: not needed to import
            destination = site / source.relative_to(base)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            destination.chmod(0o755 if os.access(source, os.X_OK) else 0o644)
    _run([python, "-m", "compileall", "-q", str(site)], "compiling the base environment")
