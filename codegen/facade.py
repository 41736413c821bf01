"""Write fintoro_api/_resources.py: ``client.<resource>.<action>(...)`` for every operation.

Read from the generated endpoint modules (their ``asyncio`` signatures, via
ast) and the spec (paths and operationIds), never hand-listed. The resource is
the first path segment (``/credit-notes/...`` -> ``credit_notes``); the action
is the operationId with the resource's words removed (``createInvoiceCreditNote``
on ``/invoices`` -> ``create_credit_note``), so names read without stutter.

Each facade method imports its endpoint module when first called, so the
facade adds almost nothing to import time. Keyword arguments the caller omits
are not passed on, so the generated function's own defaults apply.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from .errors import CodegenError

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def words(name: str) -> list[str]:
    """``createInvoiceCreditNote`` / ``credit-notes`` -> lower-case words."""
    return [w.lower() for w in _WORD.findall(name.replace("-", " ").replace("_", " "))]


def _same_noun(a: str, b: str) -> bool:
    return a == b or a + "s" == b or b + "s" == a or a + "es" == b or b + "es" == a


def action_name(operation_id: str, resource_words: list[str]) -> str:
    """The operationId's words minus the first run that names the resource (singular or plural)."""
    op_words = words(operation_id)
    size = len(resource_words)
    for start in range(len(op_words) - size + 1):
        if all(_same_noun(op_words[start + i], resource_words[i]) for i in range(size)):
            rest = op_words[:start] + op_words[start + size :]
            if rest:
                return "_".join(rest)
    return "_".join(op_words)


def resource_of(path: str) -> str:
    return "_".join(words(path.strip("/").split("/")[0]))


def _class_name(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_")) + "Resource"


def _signature(module_file: Path) -> tuple[ast.AsyncFunctionDef, list[ast.Import | ast.ImportFrom], str]:
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    function = next(
        (n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "asyncio"),
        None,
    )
    if function is None:
        raise CodegenError(f"{module_file.name} has no asyncio() function")
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    summary = (ast.get_docstring(function) or "").strip().splitlines()[0:1]
    return function, imports, summary[0] if summary else ""


def _type_imports(imports: list[ast.Import | ast.ImportFrom]) -> set[str]:
    """The generated module's imports that annotations may need, re-rooted at fintoro_api/."""
    lines = set()
    for node in imports:
        if isinstance(node, ast.ImportFrom) and node.level == 3 and node.module and node.module.startswith("models"):
            for alias in node.names:
                lines.add(f"from .{node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("datetime", "uuid"):
                    lines.add(f"import {alias.name}")
    return lines


def _item_type(
    package: Path, function: ast.AsyncFunctionDef, imports: list[ast.Import | ast.ImportFrom]
) -> tuple[str, str]:
    """(item class, its import line) of a list response: the ``X`` of its ``data: list[X]`` field."""
    page_class = ast.unparse(function.returns) if function.returns else ""
    module = next(
        (n.module for n in imports if isinstance(n, ast.ImportFrom) and any(a.name == page_class for a in n.names)),
        None,
    )
    if module is None:
        raise CodegenError(f"cannot find the module of {page_class}")
    tree = ast.parse((package / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "data":
            match = re.search(r"list\[(\w+)\]", ast.unparse(node.annotation))
            if match:
                item = match.group(1)
                for imp in ast.walk(tree):
                    if isinstance(imp, ast.ImportFrom) and any(a.name == item for a in imp.names):
                        return item, f"from .{imp.module} import {item}"
    raise CodegenError(f"{page_class} has no typed `data: list[...]` field to paginate")


def _pager_method(name: str, module: str, function: ast.AsyncFunctionDef, item: str, per_page_max: int) -> str:
    args = function.args
    filters = [
        (a, d)
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if a.arg not in ("client", "page", "per_page")
    ]
    params = ["self", "*"]
    for arg, _default in filters:
        annotation = ast.unparse(arg.annotation) if arg.annotation else "Any"
        if "Unset" not in annotation:
            annotation = f"{annotation} | Unset"
        params.append(f"{arg.arg}: {annotation} = UNSET")
    params += ["per_page: int | None = None", "max_items: int | None = None"]
    given = ", ".join(f"{a.arg}={a.arg}" for a, _ in filters)
    tag, module_name = module.split(".")
    return (
        f"    def {name}_all({', '.join(params)}) -> AsyncPager[{item}]:\n"
        f'        """Every item of ``{name}`` across all pages (``async for``), {per_page_max} per request.\n\n'
        f"        ``per_page`` (1-{per_page_max}) overrides the page size; ``max_items`` stops early.\n"
        f'        """\n'
        f"        from .api.{tag} import {module_name}\n\n"
        f"        filters = _given({given})\n\n"
        f"        async def fetch(page: int, size: int) -> Any:\n"
        f"            return await {module_name}.asyncio(client=self._client, page=page, per_page=size, **filters)\n\n"
        f"        return AsyncPager(fetch, per_page=per_page, per_page_max={per_page_max}, max_items=max_items)\n"
    )


def _module_path(module_file: Path) -> str:
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PATH" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise CodegenError(f"{module_file.name} has no PATH")


def _save_method(name: str, path: str, function: ast.AsyncFunctionDef, content_type: str) -> str:
    """``save_pdf(id, destination)``: stream a binary endpoint to a file through ``client.save``."""
    positional = [a.arg for a in function.args.posonlyargs + function.args.args]
    params = ", ".join(
        f"{a.arg}: {ast.unparse(a.annotation) if a.annotation else 'Any'}"
        for a in function.args.posonlyargs + function.args.args
    )
    url = path
    for arg in positional:
        url = url.replace("{" + arg + "}", "{quote(str(" + arg + '), safe="")}')
    save_name = "save" + name[len("download") :] if name.startswith("download") else f"save_{name}"
    return (
        f"    async def {save_name}(\n"
        f"        self, {params}, destination: str | os.PathLike[str], *, progress: ProgressCallback | None = None\n"
        f"    ) -> int:\n"
        f'        """Stream the {content_type} of ``{name}`` to ``destination`` atomically; return bytes written."""\n'
        f'        return await self._client.save(f"{url}", destination, progress=progress)\n'
    )


def _method(name: str, module: str, function: ast.AsyncFunctionDef, summary: str) -> str:
    args = function.args
    positional = [a for a in args.posonlyargs + args.args]
    keyword = [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if a.arg != "client"]
    params = ["self"]
    for arg in positional:
        params.append(f"{arg.arg}: {ast.unparse(arg.annotation) if arg.annotation else 'Any'}")
    if keyword:
        params.append("*")
    required_kw, optional_kw = [], []
    for arg, default in keyword:
        annotation = ast.unparse(arg.annotation) if arg.annotation else "Any"
        if default is None:
            params.append(f"{arg.arg}: {annotation}")
            required_kw.append(arg.arg)
        else:
            if "Unset" not in annotation:
                annotation = f"{annotation} | Unset"
            params.append(f"{arg.arg}: {annotation} = UNSET")
            optional_kw.append(arg.arg)
    returns = ast.unparse(function.returns) if function.returns else "Any"
    call = [a.arg for a in positional] + ["client=self._client"] + [f"{k}={k}" for k in required_kw]
    if optional_kw:
        call.append("**_given(" + ", ".join(f"{k}={k}" for k in optional_kw) + ")")
    tag, module_name = module.split(".")
    doc = (summary.rstrip(".") + ". " if summary else "") + f"Calls ``fintoro_api.api.{module}.asyncio``."
    return (
        f"    async def {name}({', '.join(params)}) -> {returns}:\n"
        f'        """{doc}"""\n'
        f"        from .api.{tag} import {module_name}\n\n"
        f"        return await {module_name}.asyncio({', '.join(call)})\n"
    )


def write_facade(
    package: Path,
    operations: list[tuple[str, str, dict[str, Any]]],
    modules: dict[str, str],
    per_page_max: dict[str, int | None],
    binary: dict[str, str | None],
) -> list[tuple[str, str, str, str]]:
    """Write _resources.py; return (operationId, resource, action, module) rows for the docs table."""
    by_resource: dict[str, list[tuple[str, str, str]]] = {}
    for _method_name, path, operation in operations:
        op_id = operation["operationId"]
        resource = resource_of(path)
        action = action_name(op_id, resource.split("_"))
        by_resource.setdefault(resource, []).append((op_id, action, modules[op_id]))

    imports: set[str] = set()
    classes: list[str] = []
    rows: list[tuple[str, str, str, str]] = []
    for resource, entries in sorted(by_resource.items()):
        actions = [action for _, action, _ in entries]
        duplicates = sorted({a for a in actions if actions.count(a) > 1})
        if duplicates:
            raise CodegenError(f"facade names collide on {resource}: {', '.join(duplicates)}")
        methods = []
        for op_id, action, module in entries:
            tag, name = module.split(".")
            function, module_imports, summary = _signature(package / "api" / tag / f"{name}.py")
            imports |= _type_imports(module_imports)
            methods.append(_method(action, module, function, summary))
            rows.append((op_id, resource, action, module))
            if binary.get(op_id):
                module_file = package / "api" / tag / f"{name}.py"
                content_type = binary[op_id] or ""
                methods.append(_save_method(action, _module_path(module_file), function, content_type))
            maximum = per_page_max.get(op_id)
            if maximum is not None:
                item, item_import = _item_type(package, function, module_imports)
                imports.add(item_import)
                methods.append(_pager_method(action, module, function, item, maximum))
                rows.append((op_id, resource, f"{action}_all", module))
        classes.append(
            f"class {_class_name(resource)}(_Resource):\n"
            f'    """``client.{resource}``: {len(entries)} operation(s) under /{resource.replace("_", "-")}."""\n\n'
            + "\n".join(methods)
        )
    accessors = "\n".join(
        f"    @cached_property\n"
        f"    def {resource}(self) -> {_class_name(resource)}:\n"
        f"        return {_class_name(resource)}(self)  # type: ignore[arg-type]\n"
        for resource in sorted(by_resource)
    )
    text = (
        '"""The resource facade: ``client.<resource>.<action>(...)``. Generated by codegen/facade.py."""\n\n'
        "from __future__ import annotations\n\n"
        "import os\n"
        "from functools import cached_property\n"
        "from typing import TYPE_CHECKING, Any\n"
        "from urllib.parse import quote\n\n"
        "from ._pagination import AsyncPager\n"
        "from .types import UNSET, Unset\n\n"
        "if TYPE_CHECKING:\n"
        "    from ._client import FintoroClient\n"
        "    from ._transfers import ProgressCallback\n" + "".join(f"    {line}\n" for line in sorted(imports)) + "\n\n"
        "def _given(**kwargs: Any) -> dict[str, Any]:\n"
        '    """The keyword arguments the caller set; omitted ones keep the generated defaults."""\n'
        "    return {key: value for key, value in kwargs.items() if value is not UNSET}\n\n\n"
        "class _Resource:\n"
        "    def __init__(self, client: FintoroClient) -> None:\n"
        "        self._client = client\n\n\n" + "\n\n".join(classes) + "\n\nclass Resources:\n"
        '    """Mixin giving a client one attribute per resource."""\n\n' + accessors
    )
    (package / "_resources.py").write_text(text, encoding="utf-8")
    return rows


def operations_table(rows: list[tuple[str, str, str, str]]) -> str:
    """Markdown table operationId -> facade call (written to docs/operations.md, git-ignored)."""
    lines = [
        "# Operations and their facade calls",
        "",
        "Generated by `make generate` from the pinned spec; not committed.",
        "",
        "| operationId | facade call | generated module |",
        "|---|---|---|",
    ]
    for op_id, resource, action, module in sorted(rows, key=lambda r: (r[1], r[2])):
        lines.append(f"| `{op_id}` | `await client.{resource}.{action}(...)` | `fintoro_api.api.{module}` |")
    return "\n".join(lines) + "\n"
