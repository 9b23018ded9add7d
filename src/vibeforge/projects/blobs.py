"""Reading many blobs of a repository through one `git cat-file --batch` process (a process
per blob would cost milliseconds each). Blocking: call it in a thread."""

from __future__ import annotations

import subprocess

from vibeforge.projects.git import GitRepository, _environment

ZERO = "0" * 40  # the blob id git shows for a file that does not exist


class BlobReader:
    """Blobs by id; close it (or use it as a context manager) to end its process."""

    def __init__(self, repo: GitRepository) -> None:
        self._process = subprocess.Popen(
            ["git", f"--git-dir={repo.path}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_environment("vibeforge <vibeforge@localhost>"),
        )

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(self, blob: str) -> bytes:
        """A blob's bytes (empty for the zero id, or an id the repository lacks)."""
        if blob == ZERO:
            return b""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(blob.encode() + b"\n")
        self._process.stdin.flush()
        header = self._process.stdout.readline().split()
        if len(header) != 3:  # "<id> missing"
            return b""
        return self._process.stdout.read(int(header[2]) + 1)[:-1]

    def many(self, blobs: list[str]) -> dict[str, bytes]:
        """Several blobs in one round trip (asked for all at once, then read in turn)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        wanted = list(dict.fromkeys(blob for blob in blobs if blob != ZERO))
        found = {ZERO: b""} if ZERO in blobs else {}
        # The requests are small (41 bytes each): a batch fits the pipe, so writing them all
        # before reading cannot deadlock against cat-file's own output.
        for start in range(0, len(wanted), 512):
            batch = wanted[start : start + 512]
            self._process.stdin.write(b"".join(blob.encode() + b"\n" for blob in batch))
            self._process.stdin.flush()
            for blob in batch:
                header = self._process.stdout.readline().split()
                found[blob] = (
                    self._process.stdout.read(int(header[2]) + 1)[:-1] if len(header) == 3 else b""
                )
        return found

    def texts(self, blobs: list[str]) -> dict[str, str]:
        """Several blobs as text (bytes that are not UTF-8 as U+FFFD: for diffs only)."""
        return {blob: data.decode("utf-8", "replace") for blob, data in self.many(blobs).items()}

    def close(self) -> None:
        """End the process."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
