"""The candidate: the project's files as the run's edits leave them, before anything is saved.

The coder's reply applies to the original files; each fixer reply applies to the candidate
(the files as the previous edits left them), never to the original again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vibeforge.agents.tools import Workspace
from vibeforge.agents.validators import Problem, validate_file
from vibeforge.edits import EditError, apply_edits, detect_format, parse_edits, render_unified_diff
from vibeforge.errors import InvalidPath
from vibeforge.projects.paths import normalize_path


def has_edits(reply: str, edit_format: str) -> bool:
    """Whether a reply holds edit blocks at all (else it is a question or an explanation).

    A bare fenced snippet counts as a whole-file edit only when the model config asks for whole
    files: otherwise a question with an example in it would overwrite a file.
    """
    detected = detect_format(reply)
    if detected != "whole":
        return True
    if edit_format != "whole":
        return False
    try:
        edits = parse_edits(reply, "whole")
    except ValueError:
        return False
    return any(edit.path is not None or edit.fenced for edit in edits)


def _matches(written: str, path: str) -> bool:
    written = written.strip().strip("`").removeprefix("./")
    return path == written or path.endswith("/" + written) or written.endswith("/" + path)


@dataclass
class Candidate:
    """Original texts of the files the run touched, and their candidate texts."""

    workspace: Workspace
    original: dict[str, str | None] = field(default_factory=dict)  # None: did not exist
    current: dict[str, str | None] = field(default_factory=dict)  # None: deleted / absent

    async def load(self, paths: list[str]) -> None:
        """Bring files of the base version into the candidate (unchanged)."""
        for path in paths:
            if path not in self.original:
                text = await self.workspace.read(path)
                self.original[path] = text
                self.current[path] = text

    def view(self) -> dict[str, str]:
        """The candidate files that exist, as texts."""
        return {path: text for path, text in self.current.items() if text is not None}

    async def apply(self, reply: str) -> list[str]:
        """Apply a reply to the candidate, all or nothing; returns the paths it changed.

        Raises EditError (its report is what the fixer sees) when the reply does not apply.
        """
        try:
            # The project's paths, so a path line such as `sp ace.py` is read as one.
            parsed = parse_edits(reply, known_paths=self.workspace.paths)
            written = [edit.path for edit in parsed if edit.path]
        except ValueError as error:
            raise EditError(str(error)) from error
        wanted = [p for p in self.workspace.paths for w in written if _matches(w, p)]
        await self.load(wanted)
        result = apply_edits(self.view(), reply)
        changed: dict[str, str | None] = dict(result.files)
        changed.update(dict.fromkeys(result.deleted))
        for path in changed:
            try:
                if normalize_path(path) != path:
                    raise InvalidPath(f"{path!r} is not a canonical path")
            except InvalidPath as error:
                raise EditError(f"the edit names an unusable path: {error.detail}") from error
        for path, text in changed.items():
            self.original.setdefault(path, None)
            self.current[path] = text
        return sorted(changed)

    def changes(self) -> dict[str, str | None]:
        """Every file whose candidate differs from the original (None: delete it)."""
        return {
            path: text
            for path, text in sorted(self.current.items())
            if text != self.original.get(path)
        }

    def problems(self) -> list[tuple[str, list[Problem]]]:
        """Validation problems per changed file; a file that was already invalid is not held
        against the edit."""
        found = []
        for path, text in self.changes().items():
            if text is None:
                continue
            problems = validate_file(path, text)
            before = self.original.get(path)
            if problems and before is not None and validate_file(path, before):
                problems = []
            found.append((path, problems))
        return found

    def diff(self) -> str:
        """The unified diff from the original files to the candidate."""
        return "".join(
            render_unified_diff(self.original.get(path) or "", text or "", path)
            for path, text in self.changes().items()
        )

    def reset(self) -> None:
        """Forget every edit: the candidate equals the original files again."""
        self.current = dict(self.original)
