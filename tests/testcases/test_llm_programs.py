"""Programs that call an LLM: the real openai SDK in the sandbox, through the relay; their
calls recorded and capped, the key never inside; replay at no cost; models side by side."""

from __future__ import annotations

import httpx

from tests.stubs import STUB_KEY, create_stub_model
from tests.testcases.conftest import make_project, make_test, run
from vibeforge.llm.stub import Script, StubLLMServer

SDK_PROGRAM = r"""
import os, sys, openai
client = openai.OpenAI()
prompt = sys.stdin.read()
whole = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
)
print("whole:", whole.choices[0].message.content, whole.usage.total_tokens)
parts, usage = [], None
for chunk in client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": prompt + " again"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    usage = chunk.usage or usage
print("streamed:", "".join(parts), usage.total_tokens)
print("key:", os.environ["OPENAI_API_KEY"][:4])
# Everything the program can see of its environment and files, for the test to search.
print("ENV", dict(os.environ))
for top in ("/scratch", "/tmp"):
    for folder, folders, names in os.walk(top):
        folders[:] = [f for f in folders if "envs" not in f]  # the read-only Python packages
        for name in names:
            try:
                path = os.path.join(folder, name)
                print("FILE", path, open(path, errors="replace").read())
            except OSError:
                pass
"""


async def test_the_openai_sdk_works_in_the_sandbox_and_the_key_stays_out(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    project_id = await make_project(client, {"main.py": SDK_PROGRAM})
    test = await make_test(
        client, project_id, input_prompt="hello", checks=[{"type": "contains", "value": "whole:"}]
    )
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "passed", (result["reason"], result["stderr"][-2000:])
    output = result["output"]
    assert "whole: Echo: hello" in output
    assert "streamed: Echo: hello again" in output
    assert "key: vfr_" in output
    assert "FILE /scratch/main.py" in output
    assert STUB_KEY not in output and STUB_KEY not in result["stderr"]
    program = [r for r in stub.requests if r.purpose == "program"]
    assert [r.body["stream"] for r in program] == [True, True]  # vibeforge always streams
    assert all(r.headers["authorization"] == f"Bearer {STUB_KEY}" for r in program)
    full = (await client.get(f"/test-runs/{result['id']}")).json()
    assert [(c["role"], c["iteration"], c["status"]) for c in full["calls"]] == [
        ("program", 1, "success"),
        ("program", 2, "success"),
    ]
    assert all(c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 for c in full["calls"])
    assert full["llm_calls"] == 2
    trace = (await client.get(f"/traces/{result['trace_id']}")).json()
    names = [span["name"] for span in trace["spans"]]
    assert names[:3] == ["test_suite", "test.a test", "program"]
    assert names.count("llm.program") == 2 and "checks" in names
    usage = (await client.get("/usage?group_by=role")).json()
    assert {g["key"] for g in usage["groups"]} >= {"program"}


CAPPED = r"""
import openai
client = openai.OpenAI()
for number in (1, 2):
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        print(number, "answered")
    except openai.APIStatusError as error:
        print(number, error.status_code, error.code)
"""


async def test_the_calls_of_a_run_are_capped(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    project_id = await make_project(client, {"main.py": CAPPED})
    await client.patch(f"/projects/{project_id}/test-settings", json={"llm_max_calls": 1})
    test = await make_test(client, project_id)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["output"].splitlines() == ["1 answered", "2 429 call_cap_reached"]
    assert len([r for r in stub.requests if r.purpose == "program"]) == 1  # and no SDK retries


REPLAYED = r"""
import openai, random, sys
client = openai.OpenAI()
text = sys.stdin.read()
if text == "random":
    text = str(random.random())
for question in (text, text + "?"):
    answer = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": question}]
    )
    print(answer.choices[0].message.content)
"""


async def test_a_replay_reproduces_the_run_without_asking_the_model(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub, prices={"input_per_million": 1, "output_per_million": 2})
    project_id = await make_project(client, {"main.py": REPLAYED})
    test = await make_test(
        client, project_id, input_prompt="why", checks=[{"type": "contains", "value": "Echo"}]
    )
    (original,) = (await run(client, test["id"]))["runs"]
    assert original["status"] == "passed", original["stderr"]
    assert original["cost_usd"] > 0
    asked = len(stub.requests)
    replay = await client.post(f"/test-runs/{original['id']}/replay", json={}, timeout=120)
    assert replay.status_code == 200, replay.text
    (replayed,) = replay.json()["runs"]
    assert len(stub.requests) == asked  # the model was not asked again
    assert replayed["replay_of"] == original["id"]
    assert (replayed["status"], replayed["output"]) == (original["status"], original["output"])
    assert replayed["output"] == "Echo: why\nEcho: why?\n"
    assert replayed["cost_usd"] == 0.0 and replayed["llm_calls"] == 2
    again = await client.post(f"/test-runs/{replayed['id']}/replay", json={}, timeout=120)
    assert again.json()["runs"][0]["replay_of"] == original["id"]


async def test_a_replay_that_asks_something_new_says_where(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    project_id = await make_project(client, {"main.py": REPLAYED})
    test = await make_test(client, project_id, input_prompt="random")
    (original,) = (await run(client, test["id"]))["runs"]
    assert original["status"] == "passed", original["stderr"]
    replay = await client.post(f"/test-runs/{original['id']}/replay", json={}, timeout=120)
    (replayed,) = replay.json()["runs"]
    assert replayed["status"] == "error"
    assert replayed["reason"] == (
        f"the replay diverged: call 1 differs from recorded run {original['id']}'s at "
        "messages[0].content"
    )


MODEL_PROGRAM = r"""
import openai
answer = openai.OpenAI().chat.completions.create(
    model="any", messages=[{"role": "user", "content": "capital?"}]
)
print(answer.choices[0].message.content)
"""


async def test_two_models_side_by_side(client: httpx.AsyncClient, stub: StubLLMServer) -> None:
    first = await create_stub_model(client, stub, name="a", model="m-a")
    second = await create_stub_model(client, stub, name="b", model="m-b", is_default=False)
    stub.rule(Script(model="m-a", chunks=("Paris",)))
    stub.rule(Script(model="m-b", chunks=("Lyon",)))
    project_id = await make_project(client, {"main.py": MODEL_PROGRAM})
    for name in ("one", "two"):
        await make_test(
            client, project_id, name=name, checks=[{"type": "contains", "value": "Paris"}]
        )
    response = await client.post(
        f"/projects/{project_id}/tests:run",
        json={"models": [first["id"], second["name"]]},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    suite = response.json()
    assert suite["models"] == ["openai-compatible:m-a", "openai-compatible:m-b"]
    cells = {(t["name"], t["model"]): t["status"] for t in suite["summary"]["tests"]}
    assert cells == {
        ("one", "openai-compatible:m-a"): "passed",
        ("one", "openai-compatible:m-b"): "failed",
        ("two", "openai-compatible:m-a"): "passed",
        ("two", "openai-compatible:m-b"): "failed",
    }
    assert all(
        t["duration_ms"] > 0 and t["cost_usd"] is not None for t in suite["summary"]["tests"]
    )
