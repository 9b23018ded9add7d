"""`vibeforge stub-llm`: run the stub LLM server in its own process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys

from vibeforge.llm.stub.server import StubLLMServer


async def serve(host: str, port: int) -> None:
    """Run the stub until cancelled, printing its URL once it listens."""
    async with StubLLMServer(host, port) as stub:
        print(f"stub LLM server listening on {stub.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Parse `--host --port` and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="vibeforge stub-llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    args = parser.parse_args(argv)
    # Benchmarks time this server: keep start-up objects out of the GC's full passes.
    gc.collect()
    gc.freeze()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
