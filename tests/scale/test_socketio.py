"""Socket.IO across two processes: events of a run on A reach a Socket.IO client of B, a
cancel emitted to B stops the run on A, and the Redis manager delivers emits from anywhere."""

from __future__ import annotations

import socketio

from tests.scale.cluster import conversation, numbered
from tests.servers import RunningServer
from tests.stubs import TOKEN
from tests.wsclient import SioClient
from vibeforge.llm.stub import Script, StubLLMServer


async def test_socketio_clients_of_both_processes(
    pair: tuple[RunningServer, RunningServer],
    stub: StubLLMServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    stub.script(
        Script(chunks=tuple(f"o{i} " for i in range(40)), chunk_delay=0.002),
        Script(chunks=tuple(f"x{i} " for i in range(2000)), chunk_delay=0.01),
    )
    on_a, on_b = await SioClient.open(a.url, TOKEN), await SioClient.open(b.url, TOKEN)
    try:
        assert (await on_b.send("subscribe", session_id=talk.session_id))["ok"] is True
        ack = await on_a.send("chat", session_id=talk.session_id, prompt="hi", mode="chat")
        assert ack is not None and ack["ok"] is True
        done = await on_b.until("done")
        assert done["data"]["content"] == "".join(f"o{i} " for i in range(40))
        seqs = [e["seq"] for e in numbered(on_b)]
        assert seqs == list(range(seqs[0], seqs[-1] + 1))

        ack = await on_a.send("chat", session_id=talk.session_id, prompt="long", mode="chat")
        assert ack is not None
        await on_b.until("chunk")
        # B's client sends the cancel; B handles it and A, the owner, stops the run.
        cancelled = await on_b.send("cancel", run_id=ack["run_id"])
        assert cancelled == {
            "ok": True,
            "run_id": ack["run_id"],
            "status": "cancelled",
            "cancelled": True,
        }
        assert stub.requests[-1].client_disconnected_at is not None
        await on_a.until("cancelled")

        # Anything holding the Redis manager reaches a client wherever it is connected.
        external = socketio.AsyncRedisManager(
            redis_url, channel=f"{redis_prefix}:socketio", write_only=True
        )
        await external.emit("notice", {"seq": 0, "text": "hello A"}, room=on_a.client.get_sid())
        notice = await on_a.until("notice")
        assert notice["data"]["text"] == "hello A"
    finally:
        await on_a.close()
        await on_b.close()
