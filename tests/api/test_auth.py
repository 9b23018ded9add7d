"""Every route but the public ones needs a valid, unrevoked bearer token."""

import httpx
import pytest

PROTECTED = [
    ("GET", "/me"),
    ("GET", "/projects"),
    ("POST", "/projects"),
    ("GET", "/projects/x"),
    ("GET", "/projects/x/files"),
    ("GET", "/projects/x/files/main.py"),
    ("PUT", "/projects/x/files/main.py"),
    ("GET", "/projects/x/versions"),
    ("POST", "/projects/x/revert"),
    ("GET", "/auth/tokens"),
    ("POST", "/users"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer nope-not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer "]
)
async def test_protected_routes_refuse_without_a_valid_token(
    app: object, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        response = await anonymous.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_public_routes_need_no_token(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        for path in ["/", "/health", "/docs", "/openapi.json"]:
            assert (await anonymous.get(path)).status_code == 200, path


async def test_me_names_the_admin(client: httpx.AsyncClient) -> None:
    me = (await client.get("/me")).json()
    assert me["email"] == "admin@localhost"
    assert me["is_admin"] is True


async def test_a_revoked_token_stops_working(client: httpx.AsyncClient) -> None:
    issued = (await client.post("/auth/tokens", json={"name": "laptop"})).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert (await client.get("/me", headers=headers)).status_code == 200

    listed = (await client.get("/auth/tokens")).json()["items"]
    assert {token["name"] for token in listed} >= {"laptop", "initial"}
    assert all("token" not in token and "digest" not in token for token in listed)

    assert (await client.delete(f"/auth/tokens/{issued['id']}")).status_code == 204
    refused = await client.get("/me", headers=headers)
    assert refused.status_code == 401


async def test_tokens_are_stored_hashed(app: object, client: httpx.AsyncClient) -> None:
    from sqlalchemy import select

    from vibeforge.db.tables import ApiToken

    issued = (await client.post("/auth/tokens", json={"name": "x"})).json()
    async with app.state.services.db.transaction() as session:  # type: ignore[attr-defined]
        digests = list(await session.scalars(select(ApiToken.digest)))
    assert issued["token"] not in digests
    assert all(len(digest) == 64 for digest in digests)


async def test_only_admins_create_users(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    refused = await other_client.post("/users", json={"email": "third@example.com"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    duplicate = await client.post("/users", json={"email": "OTHER@example.com"})
    assert duplicate.status_code == 409
    invalid = await client.post("/users", json={"email": "not an email"})
    assert invalid.status_code == 422


async def test_one_user_cannot_revoke_anothers_token(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    mine = (await client.post("/auth/tokens", json={"name": "mine"})).json()
    response = await other_client.delete(f"/auth/tokens/{mine['id']}")
    assert response.status_code == 404
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {mine['token']}"})
    ).is_success
