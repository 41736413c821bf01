"""Issue 19: the built artifacts install offline in a clean venv, away from the source tree.

The sdist and the wheel are built with hatchling (the build backend, no build
isolation: the build requirements are the pinned ones already in this .venv),
copied out of the tree, and installed with pip ``--no-index
--no-build-isolation`` into fresh venvs. Those venvs see the .venv's installed
distributions (runtime and build dependencies, never fintoro_api itself)
through a .pth file, in place of a package index. Every HTTP(S) request a
build makes goes to a recording proxy on loopback: the sdist must build from
the spec it carries, without fetching anything and without ``../shared``.

Slow: 8-25 s for the whole module on this (shared, noisy) machine; the sdist's code generation is most of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from ruff.__main__ import find_ruff_bin

from .support.rawhttp import Handler, Reply, Request, raw_server
from .test_readme import PACKAGING_TEST as README_INSTALLS
from .test_readme import readme_commands

ROOT = Path(__file__).resolve().parent.parent
PIN = json.loads((ROOT / "openapi" / "pin.json").read_text())
pytestmark = pytest.mark.slow

# Run inside the fresh venv: import the installed package and call a generated function on loopback.
CALL_WHOAMI = """
import asyncio, importlib.metadata, importlib.resources, json, sys
import fintoro_api
from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api.api.whoami import show_whoami

async def main():
    async with FintoroClient("tok", base_url=sys.argv[1] + "/api/public/v1", rate_limiter=NoRateLimit()) as client:
        me = await show_whoami.asyncio(client=client)
    dist = importlib.metadata.distribution("fintoro-api")
    print(json.dumps({
        "module": fintoro_api.__file__,
        "name": me.name,
        "license": dist.read_text("licenses/LICENSE").splitlines()[0],
        "installed_from": json.loads(dist.read_text("direct_url.json") or "{}").get("url", ""),
        "spec_sha256": json.loads(importlib.resources.files(fintoro_api).joinpath("_generated.json").read_text())[
            "spec_sha256"
        ],
    }))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built from this tree and copied to a directory outside it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    outside = tmp_path_factory.mktemp("artifacts")
    found = {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}
    return {kind: Path(shutil.copy(path, outside)) for kind, path in found.items()}


@pytest.fixture(scope="module")
def installed_deps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This .venv's installed distributions except fintoro_api (its editable install), as a plain directory."""
    farm = tmp_path_factory.mktemp("deps")
    for entry in Path(site.getsitepackages()[0]).iterdir():
        name = entry.name
        if name.startswith(("fintoro_api", "_fintoro_api", "__editable__")) or name.endswith(".pth"):
            continue
        (farm / name).symlink_to(entry)
    return farm


def fresh_venv(where: Path, deps: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "offline_deps.pth").write_text(f"{deps}\n")
    (where / "bin" / "ruff").symlink_to(find_ruff_bin())  # the generator's formatter, found beside python
    return python


def offline_env(proxy: str, tmp: Path) -> dict[str, str]:
    ours = ("SPEC", "FINTORO_OPENAPI_SPEC", "ALLOW_UNPINNED_SPEC")
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("PIP_")}
    tmp.mkdir(exist_ok=True)
    env.update(
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="",
        no_proxy="",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_NO_CACHE_DIR="1",  # a wheel cached from an earlier run would skip the build under test
        PYTHONNOUSERSITE="1",
        TMPDIR=str(tmp),  # pip unpacks the sdist here: no ../shared beside it
    )
    return env


def without_proxy(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}


async def run(*command: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run in TMPDIR, so that ``python -c`` cannot import the source tree from the working directory."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, command),
        env=env,
        cwd=env["TMPDIR"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return subprocess.CompletedProcess(list(map(str, command)), proc.returncode or 0, out.decode(), None)


def pip_install(python: Path, artifact: Path) -> tuple[str | Path, ...]:
    return (
        python,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--no-cache-dir",
        artifact,
    )


async def whoami(request: Request) -> Reply:
    assert request.path == "/api/public/v1/whoami"
    return Reply(200, {"Content-Type": "application/json"}, b'{"name": "Acme s.r.o."}')


def recording_proxy(seen: list[Request]) -> Handler:
    """A "proxy" that records every request and answers none: any download attempt shows up in ``seen``."""

    async def proxy(request: Request) -> Reply:
        seen.append(request)
        return Reply(drop_before_response=True)

    return proxy


def with_pip_command(python: Path, env: dict[str, str]) -> dict[str, str]:
    """``pip`` on PATH as in an activated venv, configured as an air-gapped machine would configure it."""
    pip = python.parent / "pip"
    pip.write_text(f"#!{python}\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n")
    pip.chmod(0o755)
    config = python.parent.parent / "pip.conf"
    # No index; build in this environment (its build requirements are installed). pip reads
    # `no-build-isolation = false` as "isolation off" (the option is stored inverted).
    config.write_text(
        "[global]\nno-index = true\ndisable-pip-version-check = true\n\n[install]\nno-build-isolation = false\n"
    )
    return {**env, "PATH": f"{python.parent}{os.pathsep}{env['PATH']}", "PIP_CONFIG_FILE": str(config)}


@pytest.mark.parametrize("command", readme_commands(README_INSTALLS))
async def test_the_readme_install_commands_install_offline_in_a_clean_venv(
    command: str, artifacts: dict[str, Path], installed_deps: Path, tmp_path: Path
) -> None:
    """README's `pip install <artifact>` lines, as printed, in a directory holding both built artifacts."""
    seen: list[Request] = []
    python = fresh_venv(tmp_path / "venv", installed_deps)
    async with raw_server(whoami) as api_url, raw_server(recording_proxy(seen)) as proxy_url:
        env = with_pip_command(python, offline_env(proxy_url, tmp_path / "tmp"))
        for artifact in artifacts.values():
            shutil.copy(artifact, env["TMPDIR"])
        installed = await run("bash", "-c", command, env=env)
        assert installed.returncode == 0, installed.stdout[-3000:]
        called = await run(python, "-c", CALL_WHOAMI, api_url, env=without_proxy(env))
    assert called.returncode == 0, called.stdout[-3000:]
    result = json.loads(called.stdout.strip().splitlines()[-1])
    assert Path(result["module"]).is_relative_to(tmp_path / "venv"), "the installed copy, not the source tree"
    [named] = [word for word in command.split() if word.startswith("fintoro_api-")]
    assert result["installed_from"].endswith(f"/{named}"), "the artifact the README names was installed"
    assert result["name"] == "Acme s.r.o."
    assert result["license"] == "MIT License"
    assert result["spec_sha256"] == PIN["sha256"], "the installed code says which spec it was generated from"
    assert seen == [], "the build fetched something over the network"


def test_both_artifacts_carry_the_license_and_the_sdist_the_spec_and_the_api_reference(
    artifacts: dict[str, Path],
) -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "fintoro-api contributors" in license_text
    with zipfile.ZipFile(artifacts["wheel"]) as wheel:
        assert wheel.read("fintoro_api-0.1.0.dist-info/licenses/LICENSE").decode() == license_text
    with tarfile.open(artifacts["sdist"]) as sdist:
        names = sdist.getnames()
        top = names[0].split("/")[0]
        assert sdist.extractfile(f"{top}/LICENSE").read().decode() == license_text  # type: ignore[union-attr]
        spec = sdist.extractfile(f"{top}/openapi/{PIN['file']}").read()  # type: ignore[union-attr]
        reference = sdist.extractfile(f"{top}/docs/api.md").read().decode()  # type: ignore[union-attr]
        readme = sdist.extractfile(f"{top}/README.md").read().decode()  # type: ignore[union-attr]
    assert hashlib.sha256(spec).hexdigest() == PIN["sha256"]
    assert reference == (ROOT / "docs" / "api.md").read_text(), "the generated API reference, as make generate wrote it"
    assert "](docs/api.md)" in readme, "the README links it"
    assert "### `client.invoices.show`" in reference
    assert f"{top}/fintoro_api/webhooks/__init__.py" in names
    assert not [n for n in names if n.startswith(f"{top}/fintoro_api/api/")], "no generated code in the sdist"


def tampered_copy(sdist: Path, into: Path) -> Path:
    """The sdist with one byte of its spec changed (still valid YAML: a trailing comment)."""
    target = into / sdist.name
    with tarfile.open(sdist) as source, tarfile.open(target, "w:gz") as copy:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name.endswith(f"openapi/{PIN['file']}") and data is not None:
                data += b"# tampered\n"
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data) if data is not None else None)
    return target


async def test_tampered_spec_in_sdist_fails_with_one_clear_line(
    artifacts: dict[str, Path], installed_deps: Path, tmp_path: Path
) -> None:
    seen: list[Request] = []
    python = fresh_venv(tmp_path / "venv", installed_deps)
    sdist = tampered_copy(artifacts["sdist"], tmp_path)
    async with raw_server(recording_proxy(seen)) as proxy_url:
        installed = await run(*pip_install(python, sdist), env=offline_env(proxy_url, tmp_path / "tmp"))
    assert installed.returncode != 0
    lines = [line.strip(" │") for line in installed.stdout.splitlines()]
    errors = [line for line in lines if line.startswith("error: the spec in this sdist")]
    assert len(errors) == 1, installed.stdout[-3000:]
    assert f"pins {PIN['sha256']}" in errors[0] and "damaged or was altered" in errors[0]
    assert "Traceback" not in installed.stdout
    assert seen == []
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/fintoro_api"))
