"""Benchmark attachments and the workspace snapshot against a real server.

    .venv/bin/python bench/attachments.py [--pdfs 10] [--upload-mb 50] [--files 1000]
        [--versions 10] [--snapshots 20]

- a 20-page text PDF: POST /attachments until `attachment_state ready` arrives on a
  WebSocket following the project (inspection, storage and extraction in the worker), each
  upload a different file (goal: 1 s);
- one `--upload-mb` MB upload streamed to the server (chunked, as a client with a large file
  sends it): the growth of the server's resident memory, sampled every 5 ms from before the
  upload until the attachment is ready (goal: 64 MB);
- `subscribe {project_id}` → `snapshot` for a project of `--files` files with `--versions`
  versions each (the history is written with vibeforge's git layer beside the server, one
  commit per round of versions): cold (after a new version written through the server, so
  the page is read afresh) and warm (the same head again: cached) (goal: 50 ms).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from streaming_harness import TOKEN, rss_bytes, start_server
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def summary(values: list[float]) -> dict[str, float]:
    """Median, p90 and worst of values in seconds, as milliseconds."""
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "n": len(ordered),
    }


async def next_of(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next envelope of a type whose data matches."""
    while True:
        event = json.loads(await ws.recv())
        data = event.get("data") or {}
        if event["type"] == kind and all(data.get(k) == v for k, v in match.items()):
            return event


async def pdf_to_ready(http: httpx.AsyncClient, ws_url: str, count: int) -> dict[str, Any]:
    from tests.attachments.files import text_pdf

    project = (await http.post("/projects", json={"name": "pdfs"})).json()["id"]
    times = []
    async with connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "data": {"project_id": project}}))
        await next_of(ws, "snapshot")
        for number in range(count):
            pages = [
                [f"Upload {number}, page {page}, line {line}: some words." for line in range(45)]
                for page in range(1, 21)
            ]
            data = text_pdf(pages)
            started = time.perf_counter()
            files = {"file": (f"report-{number}.pdf", data, "application/pdf")}
            created = await http.post("/attachments", params={"project_id": project}, files=files)
            assert created.status_code == 201, created.text
            attachment = created.json()["id"]
            ready = await next_of(ws, "attachment_state", attachment_id=attachment)
            while ready["data"]["state"] not in ("ready", "failed"):
                ready = await next_of(ws, "attachment_state", attachment_id=attachment)
            assert ready["data"]["state"] == "ready", ready
            times.append(time.perf_counter() - started)
    return {"pages": 20, "bytes": len(data), **summary(times)}


async def big_upload(http: httpx.AsyncClient, server_pid: int, megabytes: int) -> dict[str, Any]:
    project = (await http.post("/projects", json={"name": "big"})).json()["id"]
    boundary = "bench-boundary"
    line = b"a line of a large log file, number %09d, with some more text after it\n"
    lines_per_piece = 4096
    piece_bytes = len(line % 0) * lines_per_piece
    pieces = megabytes * 1024 * 1024 // piece_bytes

    async def body() -> AsyncIterator[bytes]:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.log"'
        yield (head + "\r\nContent-Type: text/plain\r\n\r\n").encode()
        for number in range(pieces):
            base = number * lines_per_piece
            yield b"".join(line % (base + n) for n in range(lines_per_piece))
        yield f"\r\n--{boundary}--\r\n".encode()

    samples: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append(rss_bytes(server_pid))
            await asyncio.sleep(0.005)

    before = rss_bytes(server_pid)
    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    response = await http.post(
        "/attachments",
        params={"project_id": project},
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=300,
    )
    uploaded_s = time.perf_counter() - started
    assert response.status_code == 201, response.text
    attachment = response.json()
    while attachment["state"] not in ("ready", "failed"):
        await asyncio.sleep(0.05)
        attachment = (await http.get(f"/attachments/{attachment['id']}")).json()
    ready_s = time.perf_counter() - started
    stop.set()
    await sampler
    return {
        "megabytes": round(attachment["size"] / 2**20, 1),
        "state": attachment["state"],
        "upload_s": round(uploaded_s, 2),
        "ready_s": round(ready_s, 2),
        "server_rss_before_mb": round(before / 2**20, 1),
        "server_rss_peak_growth_mb": round((max(samples) - before) / 2**20, 1),
    }


def write_history(repo_dir: Path, files: int, versions: int) -> str:
    """`versions` commits, each changing every file (so each file has that many versions)."""
    from vibeforge.projects.git import GitRepository

    repo = GitRepository(repo_dir)
    head = repo.head()
    for version in range(versions):
        changes = {
            f"src/pkg{n % 20}/module_{n}.py": (
                f"# module {n}\nVALUE = {version}\n\ndef f(x):\n    return x * {version}\n"
            ).encode()
            for n in range(files)
        }
        head = repo.commit(
            changes, message=f"round {version}", author="bench <b@x>", expected_head=head
        )
    assert head is not None
    return head


async def snapshots(
    http: httpx.AsyncClient, ws_url: str, data_dir: Path, files: int, versions: int, count: int
) -> dict[str, Any]:
    project = (await http.post("/projects", json={"name": "history"})).json()["id"]
    repo_dir = data_dir / "projects" / project
    await asyncio.to_thread(write_history, repo_dir, files, versions)

    async def one(ws: ClientConnection) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "subscribe", "data": {"project_id": project}}))
        snapshot = await next_of(ws, "snapshot")
        return time.perf_counter() - started, snapshot["data"]

    cold, warm = [], []
    async with connect(ws_url, max_size=None) as ws:
        for number in range(5):
            # A new version through the server, as an edit would be: a new head, whose page
            # is read afresh (its tree listing the server has, as after any write of its own).
            touched = await http.put(
                f"/projects/{project}/files/touch.txt", json={"content": f"{number}\n"}
            )
            assert touched.status_code == 200, touched.text
            elapsed, data = await one(ws)
            cold.append(elapsed)
        for _ in range(count):
            elapsed, data = await one(ws)
            warm.append(elapsed)
    shown = data["files"]
    return {
        "files": files,
        "versions_each": versions,
        "files_in_snapshot": len(shown),
        "versions_in_snapshot": sum(len(item["versions"]) for item in shown),
        "diff_bytes_in_snapshot": sum(len(v["diff"] or "") for i in shown for v in i["versions"]),
        "snapshot_bytes": len(json.dumps(data)),
        "has_next_page": data["files_next"] is not None,
        "cold": summary(cold),
        "warm": summary(warm),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy it was
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        env = {"VIBEFORGE_ATTACHMENT_MAX_BYTES": str((args.upload_mb + 8) * 2**20)}
        server, url = await start_server(data_dir, env)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        ws_url = url.replace("http://", "ws://") + f"/ws?token={TOKEN}"
        try:
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
                pdf = await pdf_to_ready(http, ws_url, args.pdfs)
                upload = await big_upload(http, server.pid, args.upload_mb)
                snapshot = await snapshots(
                    http, ws_url, data_dir, args.files, args.versions, args.snapshots
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "load_average_1m_before_and_after": [load, round(os.getloadavg()[0], 2)],
        "pdf_20_pages_to_ready": pdf,
        "upload": upload,
        "snapshot": snapshot,
        "goals": {"pdf_ready_ms": 1000, "upload_rss_growth_mb": 64, "snapshot_ms": 50},
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pdfs", type=int, default=10)
    parser.add_argument("--upload-mb", type=int, default=50)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--snapshots", type=int, default=20)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
