"""Tests in and out as promptfoo-style YAML."""

from __future__ import annotations

import httpx
import yaml

from tests.testcases.conftest import make_project, make_test

EVERY_CHECK = [
    {"type": "equals", "value": "42"},
    {"type": "contains", "value": "4"},
    {"type": "not_contains", "value": "Traceback"},
    {"type": "regex", "pattern": "^\\d+$"},
    {"type": "json_path", "path": "$.a", "value": [1, 2]},
    {"type": "exit_code", "value": 0},
    {"type": "max_duration_ms", "value": 500.0},
    {"type": "stderr_empty"},
]


def comparable(tests: list[dict]) -> list[dict]:
    keep = ("name", "input_prompt", "expected_behavior", "checks", "tags", "judge_model")
    return [{key: test[key] for key in keep} for test in tests]


async def test_tests_round_trip_through_yaml(client: httpx.AsyncClient) -> None:
    source = await make_project(client, {})
    await make_test(
        client,
        source,
        name="answers",
        input_prompt="what is 6 x 7?",
        checks=EVERY_CHECK,
        expected_behavior="answers 42, politely",
        tags=["math", "smoke"],
        judge_model="judge",
    )
    await make_test(client, source, name="plain", input_prompt="hi")
    exported = (await client.get(f"/projects/{source}/tests:export")).json()
    assert exported["count"] == 2
    document = yaml.safe_load(exported["yaml"])
    first = document["tests"][0]
    assert first["vars"] == {"input": "what is 6 x 7?"}
    assert {"type": "llm-rubric", "value": "answers 42, politely"} in first["assert"]
    assert {"type": "not-contains", "value": "Traceback"} in first["assert"]
    assert {"type": "latency", "threshold": 500.0} in first["assert"]
    target = await make_project(client, {})
    imported = await client.post(
        f"/projects/{target}/tests:import", json={"yaml": exported["yaml"]}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 2
    listed = lambda project: client.get(f"/projects/{project}/tests")  # noqa: E731
    assert comparable((await listed(target)).json()["items"]) == comparable(
        (await listed(source)).json()["items"]
    )
    again = (await client.get(f"/projects/{target}/tests:export")).json()["yaml"]
    assert again == exported["yaml"]
    replaced = await client.post(
        f"/projects/{target}/tests:import",
        json={"yaml": "tests:\n  - vars: {prompt: only}\n", "replace": True},
    )
    assert replaced.json()["created"] == 1
    assert [t["input_prompt"] for t in (await listed(target)).json()["items"]] == ["only"]


async def test_bad_yaml_is_refused_whole(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {})
    second_bad = "  - vars: {input: b}\n    assert: [{type: regex, value: '('}]\n"
    documents = {
        "tests:\n  - vars: {input: a}\n    assert: [{type: javascript}]\n": "javascript",
        "base: &b {input: a}\ntests:\n  - vars: *b\n": "aliases",
        "tests: {not: a list}\n": "tests:",
        "tests:\n  - vars: {input: a}\n" + second_bad: "tests[1]",
        ": : :\n": "YAML",
    }
    for text, named in documents.items():
        response = await client.post(f"/projects/{project_id}/tests:import", json={"yaml": text})
        assert response.status_code == 422, text
        assert named in response.json()["detail"], response.json()
    assert (await client.get(f"/projects/{project_id}/tests")).json()["items"] == []
