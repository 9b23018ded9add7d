"""Project names are unique per owner, compared ignoring case and repeated spaces."""

import httpx


async def test_a_taken_name_is_a_conflict_in_any_spelling(client: httpx.AsyncClient) -> None:
    first = await client.post("/projects", json={"name": "My  Demo"})
    assert first.status_code == 201
    for spelling in ("My  Demo", "my demo", " MY DEMO ", "ｍｙ ｄｅｍｏ"):
        again = await client.post("/projects", json={"name": spelling})
        assert again.status_code == 409, spelling
        assert (
            again.json()["error"] == "conflict"
            and "already have a project" in again.json()["detail"]
        )
    listed = (await client.get("/projects")).json()["items"]
    assert [p["name"] for p in listed] == ["My  Demo"], "a refused create leaves nothing"


async def test_renaming_onto_a_taken_name_is_a_conflict_and_keeping_ones_own_is_not(
    client: httpx.AsyncClient,
) -> None:
    one = (await client.post("/projects", json={"name": "one"})).json()
    await client.post("/projects", json={"name": "two"})
    taken = await client.patch(f"/projects/{one['id']}", json={"name": "TWO"})
    assert taken.status_code == 409
    assert (await client.get(f"/projects/{one['id']}")).json()["name"] == "one"
    recased = await client.patch(f"/projects/{one['id']}", json={"name": "One"})
    assert recased.status_code == 200 and recased.json()["name"] == "One"


async def test_names_are_per_owner_and_free_again_after_a_delete(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    mine = (await client.post("/projects", json={"name": "shared name"})).json()
    assert (await other_client.post("/projects", json={"name": "shared name"})).status_code == 201
    assert (await client.delete(f"/projects/{mine['id']}")).status_code == 204
    assert (await client.post("/projects", json={"name": "Shared Name"})).status_code == 201
