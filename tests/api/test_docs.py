"""The API reference works offline, says how to authenticate, and documents the real errors;
a body that is not sent as JSON is told so."""

import re

import httpx

from tests.servers import RunningServer


async def test_the_docs_pages_load_everything_from_this_server(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        for page in ("/docs", "/redoc"):
            html = await anonymous.get(page)
            assert html.status_code == 200
            sources = re.findall(r'(?:src|href)=["\']([^"\']+)', html.text)
            assert sources, page
            assert all(source.startswith("/") for source in sources), sources
            assert "cdn." not in html.text and "fonts.googleapis" not in html.text
            for source in sources:
                if source.endswith((".js", ".css", ".png")):
                    asset = await anonymous.get(source)
                    assert asset.status_code == 200 and len(asset.content) > 1000, source
        bundle = await anonymous.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith("text/javascript")
        assert "SwaggerUIBundle" in bundle.text[:5000]
        for outside in ("/docs/assets/../../config.py", "/docs/assets/core.py"):
            assert (await anonymous.get(outside)).status_code == 404


async def test_the_schema_declares_the_bearer_scheme_and_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "description": "an API token: `Authorization: Bearer TOKEN`",
        "scheme": "bearer",
    }
    assert "HTTPValidationError" not in str(schema)
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    error = {"$ref": "#/components/schemas/Error"}
    create = schema["paths"]["/projects"]["post"]
    assert create["security"] == [{"HTTPBearer": []}]
    for status in ("400", "401", "413", "415", "422"):
        assert create["responses"][status]["content"]["application/json"]["schema"] == error
    read = schema["paths"]["/projects/{project_id}"]["get"]
    assert {"401", "404", "422"} <= set(read["responses"])
    message = schema["paths"]["/sessions/{session_id}/messages"]["post"]["responses"]
    assert "RunFailed" in str(message["502"]), "a route's own error answer is kept"
    assert "security" not in schema["paths"]["/health"]["get"]


async def test_a_body_not_sent_as_json_is_told_to_send_json(client: httpx.AsyncClient) -> None:
    # What `curl -d '{"name": "x"}'` sends without -H 'Content-Type: application/json'.
    form = await client.post(
        "/projects",
        content=b'{"name": "x"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    assert form.json()["error"] == "unsupported_media_type"
    assert "Content-Type: application/json" in form.json()["detail"]
    assert "application/x-www-form-urlencoded" in form.json()["detail"]
    untyped = await client.post("/projects", content=b'{"name": "untyped"}')
    assert untyped.status_code == 415 and "no Content-Type" in untyped.json()["detail"]
    wrong = await client.post("/projects", json=[1])
    assert wrong.status_code == 422 and wrong.json()["error"] == "validation_error"
