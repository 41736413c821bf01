"""Issue 19: a README that runs. Every code block in README.md is run here, or classified not runnable with why.

One harness for all blocks:

- ``readme_blocks()`` reads README.md: each fenced block with its language, its heading and its line.
- ``BLOCKS`` classifies every block by (heading, ordinal under that heading). A python block names the
  function that runs it: the function builds the block's namespace (the names it uses but does not define,
  listed in the function's ``names = {...}``), runs the block AS PRINTED (compiled from README.md with
  top-level ``await``, so tracebacks point at README lines) and checks what it did. A shell block lists each
  of its commands (comment lines and trailing ``# ...`` comments aside): ``Run`` (a function here runs it
  as printed), ``RunBy`` (another test runs it, reading it from the README through ``readme_commands``), or
  ``NotRunnable`` with the reason.
- ``test_every_readme_block_is_classified`` fails on a block or command that is not in ``BLOCKS`` (a section
  merged later shows up here) and on an entry that no longer matches the README.

Where a block uses ``FintoroClient(token, ...)`` without a base URL (a user's code talks to Fintoro), the
namespace binds ``fintoro_api.FintoroClient`` to the in-process fake (``on_the_fake``): the block's own
arguments are kept, only ``transport=`` is added.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import importlib
import inspect
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import fintoro_api
from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api.models import ClientCreateInput, DocumentPaymentInput, InvoiceInput, WebhookSubscriptionInput
from fintoro_api.testing import FakeFintoro
from fintoro_api.webhooks import Fetched, create_subscription

from .support.redis_server import redis_server
from .test_fake_webhooks import RECEIVER, Recorder

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK_TIMEOUT_S = 60


# --- reading the README ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    heading: str  # the nearest heading above the block, as printed ("## Use")
    ordinal: int  # 1 for the first block under that heading
    language: str
    line: int  # README line of the block's first code line
    code: str

    @property
    def key(self) -> tuple[str, int]:
        return self.heading, self.ordinal

    def commands(self) -> list[str]:
        """A shell block's commands: its lines without comment lines and trailing ``  # ...`` comments."""
        lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in self.code.splitlines())
        return [line for line in lines if line and not line.startswith("#")]


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    heading, fence, start, body = "", None, 0, []
    counts: dict[str, int] = {}
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if fence is None and line.startswith("```"):
            fence, start, body = line[3:].strip(), number + 1, []
        elif fence is not None and line.startswith("```"):
            counts[heading] = counts.get(heading, 0) + 1
            blocks.append(Block(heading, counts[heading], fence, start, "\n".join(body) + "\n"))
            fence = None
        elif fence is not None:
            body.append(line)
        elif line.startswith("#"):
            heading = line.strip()
    assert fence is None, "README.md ends inside a code block"
    return blocks


def readme_block(heading: str, ordinal: int = 1) -> Block:
    [block] = [b for b in readme_blocks() if b.key == (heading, ordinal)]
    return block


async def run_block(block: Block, names: dict[str, Any]) -> dict[str, Any]:
    """Run a python block as printed with ``names`` defined; return its namespace (what it defined)."""
    namespace = {"__name__": "readme", **names}
    source = "\n" * (block.line - 1) + block.code  # tracebacks name README.md and its line numbers
    code = compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # a coroutine when the block awaits at top level
    if inspect.iscoroutine(result):
        async with asyncio.timeout(BLOCK_TIMEOUT_S):  # a block that never returns fails instead of hanging the suite
            await result
    return namespace


# --- classification -----------------------------------------------------------------------------------------

PythonRunner = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Run:
    """Run here by ``runner`` (a function of this module), as printed."""

    runner: Callable[..., Any]


@dataclass(frozen=True)
class RunBy:
    """Run as printed by another test, which reads the command with ``readme_commands(test)``."""

    test: str  # "tests/test_x.py::test_name"


@dataclass(frozen=True)
class NotRunnable:
    reason: str


# --- the fake as the README's blocks need it ----------------------------------------------------------------


def on_the_fake(fake: FakeFintoro) -> Callable[..., FintoroClient]:
    """``FintoroClient`` with the block's own arguments, talking to ``fake`` in process."""
    return functools.partial(FintoroClient, transport=fake.transport())


async def invoice_with_id(fintoro: FintoroClient, fake: FakeFintoro, invoice_id: int, client_id: int) -> int:
    """An invoice created through the API while the fake's id counter stands at ``invoice_id`` (the README's ids)."""
    fake.store._ids = itertools.count(invoice_id)
    item = {"name": "Widget", "quantity": 1, "unitPrice": 10, "vatRate": 23}
    created = await fintoro.invoices.create(body=InvoiceInput.from_dict({"clientId": client_id, "items": [item]}))
    assert created.id == invoice_id
    return invoice_id


@contextlib.asynccontextmanager
async def acme_with_invoices(fake: FakeFintoro) -> AsyncIterator[tuple[str, FintoroClient]]:
    """Acme's token and a client for it: invoices 301 and 302 unpaid, 303 paid (a payment covers it)."""
    token = fake.add_company("Acme s.r.o.")
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        for invoice_id in (301, 302, 303):
            await invoice_with_id(fintoro, fake, invoice_id, buyer.id)
        payment = DocumentPaymentInput.from_dict({"documentType": "invoice", "documentId": 303})
        await fintoro.document_payments.create(body=payment)
        yield token, fintoro


def invoice_number(fake: FakeFintoro, token: str, invoice_id: int) -> str:
    [record] = [r for r in fake.records(token, "invoices") if r["id"] == invoice_id]
    return str(record["number"])


# --- python blocks --------------------------------------------------------------------------------------------


async def run_use(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    fake = FakeFintoro()
    monkeypatch.chdir(tmp_path)  # the block saves under a relative path
    async with acme_with_invoices(fake) as (token, _fintoro):
        names = {"token": token, "other_company_token": fake.add_company("Other s.r.o.")}
        monkeypatch.setattr(fintoro_api, "FintoroClient", on_the_fake(fake))
        done = await run_block(block, names)
    assert done["invoice"].id == 301
    assert done["item"].status == "unpaid" and done["item"].id == 302, "the last unpaid invoice; 303 is paid"
    assert [p.name for p in (tmp_path / "invoices").iterdir()] == [f"{invoice_number(fake, token, 301)}.pdf"]


async def run_downloads(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **_: Any
) -> None:
    fake = FakeFintoro()
    monkeypatch.chdir(tmp_path)
    async with acme_with_invoices(fake) as (token, fintoro):
        await run_block(block, {"fintoro": fintoro})
    numbers = [invoice_number(fake, token, i) for i in (301, 302)]
    assert sorted(p.name for p in (tmp_path / "invoices").iterdir()) == sorted(f"{n}.pdf" for n in numbers)
    pdf = (tmp_path / "out" / "faktura-301.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and (tmp_path / "invoices" / f"{numbers[0]}.pdf").read_bytes() == pdf
    progress = [tuple(map(int, line.split())) for line in capsys.readouterr().out.splitlines()]
    assert progress[-1] == (len(pdf), len(pdf)), "print(done, total) ends with the whole file"


async def a_signed_delivery(fake: FakeFintoro, fintoro: FintoroClient) -> tuple[dict[str, str], bytes, str, int]:
    """Subscribe to clients.created, create a client, deliver: the raw headers and body, the secret, the client id."""
    recorder = Recorder()
    fake.receive_webhooks(RECEIVER, recorder)
    wanted = {"url": RECEIVER, "isActive": True, "subscribedEvents": ["clients.created"]}
    body = WebhookSubscriptionInput.from_dict(wanted)
    subscription = await create_subscription(fintoro, body, resolver=fake.resolve)
    created = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Gamma s.r.o."}))
    await fake.deliver_webhooks()
    [(headers, raw_body)] = recorder.received
    return headers, raw_body, subscription.plain_text_secret, created.id


async def post_twice(app: Any, headers: dict[str, str], body: bytes) -> list[int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver.test") as http:
        sent = {k: v for k, v in headers.items() if k.startswith("webhook-") or k == "content-type"}
        return [(await http.post("/", content=body, headers=sent)).status_code for _ in range(2)]


async def run_webhooks(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    handled: list[Any] = []
    monkeypatch.chdir(tmp_path)  # the block opens webhooks.db under a relative path

    async def handle_event(event: Any) -> None:
        handled.append(event)

    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as fintoro:
        headers, raw_body, secret, client_id = await a_signed_delivery(fake, fintoro)
        names = {"raw_body": raw_body, "headers": headers, "secret": secret, "handle_event": handle_event}
        done = await run_block(block, {**names, "fintoro": fintoro})
    try:
        assert done["event"].type == "clients.created"
        assert isinstance(done["result"], Fetched) and done["result"].resource.id == client_id
        assert done["handled_now"] == 0 and handled == [], "nothing was stored yet"
        assert await post_twice(done["durable_app"], headers, raw_body) == [204, 204]
        assert handled == [], "the durable receiver only stores; the worker handles"
        assert await done["worker"].drain() == 1, "a redelivered id is stored once"
        assert await post_twice(done["app"], headers, raw_body) == [204, 204]
        assert [event.id for event in handled] == [done["event"].id] * 2, "each app ran the handler once per id"
        assert (tmp_path / "webhooks.db").is_file()
    finally:
        await done["inbox"].aclose()


async def run_redis(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    fake = FakeFintoro()
    handled: list[Any] = []

    async def handle(event: Any) -> None:
        handled.append(event)

    with redis_server(tmp_path) as server:
        async with acme_with_invoices(fake) as (token, fintoro):
            headers, raw_body, secret, _ = await a_signed_delivery(fake, fintoro)
        monkeypatch.setattr(fintoro_api, "FintoroClient", on_the_fake(fake))
        names = {"redis_url": server.url, "token": token, "secret": secret, "handle": handle}
        done = await run_block(block, names)
        try:
            assert (await done["fintoro"].invoices.show(301)).id == 301
            assert await post_twice(done["app"], headers, raw_body) == [204, 204]
            keys = sorted(k.decode() for k in await done["limiter"].redis.keys("*"))
        finally:
            await done["fintoro"].aclose()
            await done["limiter"].aclose()
            await done["store"].aclose()
    assert len(handled) == 1
    assert any(k.startswith("fintoro:rl:") and "acme" in k for k in keys), keys
    assert any(k.startswith("fintoro:wh:") for k in keys), keys


async def run_testing(block: Block, **_: Any) -> None:
    done = await run_block(block, {})
    fake = done["fake"]
    assert [status for _, path, status in fake.requests if path.endswith("/orders")] == [201, 201]  # cut, replayed


# --- shell commands ----------------------------------------------------------------------------------------


def shell_env() -> dict[str, str]:
    """The shell as after ``source .venv/bin/activate``: ``python`` is this test run's interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def expected_output(block: Block) -> list[re.Pattern[str]]:
    """The block's ``# ...`` output lines as patterns: a 5-digit port and ``...`` stand for what varies."""
    lines = [line.removeprefix("# ") for line in block.code.splitlines() if line.startswith("# ")]
    return [re.compile(re.escape(line).replace("41234", r"\d+").replace(r"\.\.\.", r"\S+") + "$") for line in lines]


async def run_the_served_fake(command: str, block: Block, **_: Any) -> None:
    """Start it as printed, read what it prints, call the API with the printed token, stop it with SIGTERM."""
    proc = await asyncio.create_subprocess_shell(
        f"exec {command}", stdout=asyncio.subprocess.PIPE, env=shell_env(), cwd=ROOT, start_new_session=True
    )
    assert proc.stdout is not None
    try:
        printed = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode().rstrip("\n") for _ in range(2)]
        for line, pattern in zip(printed, expected_output(block), strict=True):
            assert pattern.match(line), (line, pattern.pattern)
        url, token = printed[0].removeprefix("url: "), printed[1].split(": ", 1)[1]
        async with FintoroClient(token, base_url=url, rate_limiter=NoRateLimit()) as fintoro:
            assert await fintoro.current_company() == "Acme s.r.o."
            created = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
            assert [c.id for c in (await fintoro.clients.list()).data] == [created.id]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def run_make_demo(command: str, **_: Any) -> None:
    """``make demo`` in this tree, once ``make install`` has nothing left to do (the suite must not rebuild)."""
    up_to_date = subprocess.run(["make", "-q", "install"], cwd=ROOT, env=shell_env(), check=False)
    assert up_to_date.returncode == 0, "run `make install` first: `make demo` would regenerate under the test run"
    done = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=shell_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # What the README promises of it: seeded data listed, the created order in the order list, a real PDF, stopped.
    promised = ["seeded 3 invoices", "Listed 3 of 3 invoice(s)", "The order list shows it", "opens as a PDF", "stopped"]
    assert [p for p in promised if p not in done.stdout] == [], done.stdout[-3000:]


# --- the table -------------------------------------------------------------------------------------------

INSTALL = "## Install and pin (using the client)"
PACKAGING_TEST = "tests/test_packaging.py::test_the_readme_install_commands_install_offline_in_a_clean_venv"
FAKE_OVER_HTTP = "## Testing your integration: `fintoro_api.testing`"

SHELL = ("sh", "bash", "shell", "console")

# A python block: Run. A shell block: each command. Any other block (JSON, text): NotRunnable with the reason.
BLOCKS: dict[tuple[str, int], Run | NotRunnable | dict[str, Run | RunBy | NotRunnable]] = {
    (INSTALL, 1): {
        "pip install fintoro_api-0.1.0-py3-none-any.whl": RunBy(PACKAGING_TEST),
        "pip install fintoro_api-0.1.0.tar.gz": RunBy(PACKAGING_TEST),
        'pip install "fintoro-api @ git+https://<your git host>/fintoro-api.git@v0.1.0"': NotRunnable(
            "a placeholder host, and a git install fetches the pinned spec over the network; it builds like "
            "`pip install .` from a clone, the build `make install` runs (editable) before every test run"
        ),
    },
    ("## Set up", 1): {
        "make demo": Run(run_make_demo),
        "make test": NotRunnable("the test suite itself: CI runs it on a fresh clone"),
    },
    ("## Set up", 2): {
        "FINTORO_TOKEN=... .venv/bin/python examples/quickstart.py [--write]": NotRunnable(
            "the real API: needs a company's token and the network; `make demo` (run above) runs the same "
            "script against the fake"
        ),
    },
    ("## Use", 1): Run(run_use),
    ("### Downloads and uploads", 1): Run(run_downloads),
    ("### Webhooks", 1): Run(run_webhooks),
    ("### Many processes: Redis (`pip install fintoro-api[redis]`)", 1): Run(run_redis),
    (FAKE_OVER_HTTP, 1): Run(run_testing),
    (FAKE_OVER_HTTP, 2): {'python -m fintoro_api.testing --port 0 --company "Acme s.r.o."': Run(run_the_served_fake)},
}


def readme_commands(test: str) -> list[str]:
    """The README commands ``BLOCKS`` says ``test`` runs, as printed (for that test to run)."""
    printed = {c for b in readme_blocks() if b.language in SHELL for c in b.commands()}
    wanted = [
        command
        for entry in BLOCKS.values()
        if isinstance(entry, dict)
        for command, how in entry.items()
        if how == RunBy(test)
    ]
    assert wanted and set(wanted) <= printed, f"README.md no longer prints what {test} runs: {wanted}"
    return wanted


def test_every_readme_block_is_classified() -> None:
    blocks = readme_blocks()
    problems = []
    for block in blocks:
        entry = BLOCKS.get(block.key)
        where = f"README.md:{block.line} ({block.heading!r} block {block.ordinal}, {block.language or 'no language'})"
        if entry is None:
            problems.append(f"{where}: not classified in tests/test_readme.py BLOCKS (run it, or say why not)")
        elif block.language == "python" and not isinstance(entry, Run):
            problems.append(f"{where}: a python block must run")
        elif block.language in SHELL and isinstance(entry, dict):
            for command in block.commands():
                if command not in entry:
                    problems.append(f"{where}: command {command!r} is not classified")
            problems += [f"{where}: {c!r} is classified but not printed" for c in entry if c not in block.commands()]
        elif block.language in SHELL:
            problems.append(f"{where}: classify a shell block command by command")
        elif block.language != "python" and not isinstance(entry, NotRunnable):
            problems.append(f"{where}: a {block.language or 'plain'} block is NotRunnable, with the reason")
    found = {b.key for b in blocks}
    problems += [f"BLOCKS has {key}, which README.md no longer has" for key in BLOCKS if key not in found]
    for entry in BLOCKS.values():
        for how in entry.values() if isinstance(entry, dict) else [entry]:
            if isinstance(how, RunBy):
                path, name = how.test.split("::")
                module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
                if not callable(getattr(module, name, None)):
                    problems.append(f"{how.test} does not exist")
            elif isinstance(how, NotRunnable) and len(how.reason.split()) < 5:
                problems.append(f"not runnable, but the reason is too short to help: {how.reason!r}")
    assert not problems, "\n".join(problems)


PYTHON_BLOCKS = [key for key, entry in BLOCKS.items() if isinstance(entry, Run)]
SHELL_COMMANDS = [
    (key, command, how)
    for key, entry in BLOCKS.items()
    if isinstance(entry, dict)
    for command, how in entry.items()
    if isinstance(how, Run)
]


@pytest.mark.parametrize("key", PYTHON_BLOCKS, ids=[f"{h} {n}" for h, n in PYTHON_BLOCKS])
async def test_readme_python_block_runs_as_printed(
    key: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = BLOCKS[key]
    assert isinstance(entry, Run)
    await entry.runner(readme_block(*key), tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)


@pytest.mark.slow
@pytest.mark.parametrize("key, command, how", SHELL_COMMANDS, ids=[c for _, c, _ in SHELL_COMMANDS])
async def test_readme_shell_command_runs_as_printed(key: tuple[str, int], command: str, how: Run) -> None:
    block = readme_block(*key)
    assert command in block.commands()
    result = how.runner(command, block=block)
    if inspect.isawaitable(result):
        await result


# --- what the README's prose cites and counts ---------------------------------------------------------------

CITED_FILE = re.compile(r"(?:tests/)?(test_\w+\.py)(?:::(test_\w+))?")
CITED_MORE = re.compile(r"`::(test_\w+)`")  # ``::test_name`` after a citation: the same file


def test_every_test_the_readme_cites_exists() -> None:
    """A promise names the test that holds it; a renamed or deleted test must not leave a dead citation."""
    text = README.read_text(encoding="utf-8")
    cited: list[tuple[str, str | None]] = []
    last_file = None
    for match in re.finditer(f"{CITED_FILE.pattern}|{CITED_MORE.pattern}", text):
        if match.group(1):
            last_file = match.group(1)
            cited.append((last_file, match.group(2)))
        else:
            assert last_file is not None, f"{match.group(0)} follows no test file"
            cited.append((last_file, match.group(3)))
    assert len(cited) > 20
    missing = []
    for file, name in cited:
        path = ROOT / "tests" / file
        if not path.is_file():
            missing.append(file)
        elif name and not re.search(rf"^(async )?def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert missing == [], f"README.md cites tests that do not exist: {missing}"


# Sentences that once counted the pin's operations: a count goes stale on the next pin move, and
# `make update-spec` must finish green, so the README says "every ..." instead of a number.
PIN_COUNTS = re.compile(
    r"\(\d+ of\s+them\)|\(all \d+\)|\b\d+ (?:create|JSON and download|paginated)\b"
    r"|\b\d+ (?:operations|paginated lists)\b"
)


def test_the_readme_counts_nothing_that_a_pin_move_changes() -> None:
    found = [m.group(0) for m in PIN_COUNTS.finditer(README.read_text(encoding="utf-8"))]
    assert found == [], f"README.md counts what the pinned spec holds: {found}"
