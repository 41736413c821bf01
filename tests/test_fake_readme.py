"""The README's fintoro_api.testing example runs as printed (a new user copies it first)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(heading: str) -> str:
    """The first python code block after ``heading`` in the README."""
    section = README.read_text(encoding="utf-8").split(heading, 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no python block after {heading!r}"
    return found.group(1)


async def test_the_testing_section_example_runs_as_printed() -> None:
    code = readme_block("## Testing your integration")
    namespace: dict[str, object] = {}
    exec(f"async def example():\n{textwrap.indent(code, '    ')}\n    return fake", namespace)
    fake = await namespace["example"]()  # type: ignore[operator]
    assert [status for _, path, status in fake.requests if path.endswith("/orders")] == [201, 201]  # cut, replayed
