"""A project's requirements.txt: a venv built outside the sandbox (here from a wheel made on
the spot, no network), cached by the file's hash; install failures are the run's error."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.testcases.conftest import make_project, make_test, run

PROGRAM = """
import vftestpkg
print("value", vftestpkg.VALUE)
try:
    import openai
    print("openai too")
except ImportError:
    print("only what it declared")
"""


@pytest.fixture
def wheels() -> Iterator[Path]:
    """A directory holding vftestpkg 1.0 as a wheel."""
    directory = Path(tempfile.mkdtemp(prefix="vibeforge-wheels-"))
    info = "vftestpkg-1.0.dist-info"
    with zipfile.ZipFile(directory / "vftestpkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("vftestpkg/__init__.py", "VALUE = 42\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: vftestpkg\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def test_declared_requirements_are_installed_and_cached(
    app, client: httpx.AsyncClient, wheels: Path
) -> None:  # type: ignore[no-untyped-def]
    environments = app.state.services.tests.runner.environments
    environments.pip_args = ["--no-index", "--find-links", str(wheels)]
    files = {"main.py": PROGRAM, "requirements.txt": "# pinned\nvftestpkg==1.0\n"}
    project_id = await make_project(client, files)
    test = await make_test(client, project_id, checks=[{"type": "contains", "value": "value 42"}])
    (first,) = (await run(client, test["id"]))["runs"]
    assert first["status"] == "passed", (first["reason"], first["stderr"])
    assert first["environment"].startswith("requirements:")
    assert "only what it declared" in first["output"]
    built = sorted(p.name for p in environments.root.iterdir() if p.name.startswith("req-"))
    (second,) = (await run(client, test["id"]))["runs"]
    assert second["environment"] == first["environment"]
    assert sorted(p.name for p in environments.root.iterdir() if p.name.startswith("req-")) == built


@pytest.mark.parametrize(
    ("requirements", "reason"),
    [
        ("vftestpkg==9.9\n", "could not run: pip install failed"),
        ("--index-url http://example.invalid/simple\nvftestpkg\n", "options (--index-url)"),
        ("vftestpkg @ file:///etc/passwd\n", "URLs and paths are not allowed"),
        ("not a requirement!\n", "requirements.txt line 1"),
    ],
)
async def test_a_requirement_that_cannot_be_installed_is_the_runs_error(
    app, client: httpx.AsyncClient, wheels: Path, requirements: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    app.state.services.tests.runner.environments.pip_args = [
        "--no-index",
        "--find-links",
        str(wheels),
    ]
    project_id = await make_project(client, {"main.py": PROGRAM, "requirements.txt": requirements})
    test = await make_test(client, project_id)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "error"
    assert reason in result["reason"], result["reason"]
    assert result["exit_code"] is None  # the program never ran
