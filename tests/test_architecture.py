"""The house's shape: the import contracts in pyproject.toml hold and have teeth, and no module takes a
private name (``_x``) from another module."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("flatlora", "llm_eval", "reports", "tasks", "flows")

# Private names taken across modules: (importer, module, name). None are left, and none may come
# back: make the name public, with a docstring, or move it down into a module both sides import. An
# entry added here must be deleted once its import is gone, or the test below fails.
ALLOWED_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> set[tuple[str, str, str]]:
    """Every private name a module of ``packages`` takes from another project module, as
    (importer, module, name): ``from m import _x`` (relative imports too) and ``m._x`` on a module
    bound by an import (``import a.b as m``, ``from a import b``)."""
    modules = {_module_name(p, root) for pkg in packages for p in (root / pkg).rglob("*.py")}
    found: set[tuple[str, str, str]] = set()
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            me = _module_name(path, root)
            package = me if path.name == "__init__.py" else me.rpartition(".")[0]
            bound: dict[str, str] = {}  # a local name -> the project module it is bound to
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    src = node.module or ""
                    if node.level:
                        base = package.split(".")[: len(package.split(".")) - node.level + 1]
                        src = ".".join([*base, src] if src else base)
                    if src.split(".")[0] not in packages:
                        continue
                    for alias in node.names:
                        if f"{src}.{alias.name}" in modules:
                            bound[alias.asname or alias.name] = f"{src}.{alias.name}"
                        elif _is_private(alias.name) and src != me:
                            found.add((me, src, alias.name))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] in packages:
                            if alias.asname:
                                bound[alias.asname] = alias.name
                            else:
                                bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and _is_private(node.attr):
                    dotted = _dotted(node.value)
                    if dotted is None:
                        continue
                    head, _, rest = dotted.partition(".")
                    target = bound.get(head)
                    if target is None:
                        continue
                    target = f"{target}.{rest}" if rest else target
                    if target in modules and target != me:
                        found.add((me, target, node.attr))
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def test_no_module_imports_a_private_name_from_another() -> None:
    found = private_imports(REPO)
    new = sorted(found - ALLOWED_PRIVATE_IMPORTS)
    assert not new, (
        "private names taken from another module (make them public with a docstring, or move them "
        f"down into a module both sides import): {new}"
    )
    gone = sorted(ALLOWED_PRIVATE_IMPORTS - found)
    assert not gone, f"no longer imported: delete these from ALLOWED_PRIVATE_IMPORTS: {gone}"


def test_the_private_name_check_sees_every_form(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (pkg / f).write_text("")
    (pkg / "a.py").write_text("def _helper(): ...\n_own = _helper()\n")
    (pkg / "sub" / "b.py").write_text(
        "import pkg.a\n"
        "import pkg.a as alias\n"
        "from pkg import a\n"
        "from pkg.a import _helper, public\n"
        "from ..a import _rel\n"
        "from . import _sibling\n"
        "x = a._one, alias._two, pkg.a._three, a.__doc__, a.public\n"
    )
    assert private_imports(tmp_path, ("pkg",)) == {
        ("pkg.sub.b", "pkg.a", "_helper"),
        ("pkg.sub.b", "pkg.a", "_rel"),
        ("pkg.sub.b", "pkg.sub", "_sibling"),
        ("pkg.sub.b", "pkg.a", "_one"),
        ("pkg.sub.b", "pkg.a", "_two"),
        ("pkg.sub.b", "pkg.a", "_three"),
    }


# ------------------------------------------------------------------------------ import-linter contracts
def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages' Python files and pyproject.toml, copied so that a test can break them."""
    pytest.importorskip("importlinter")
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for pkg in PACKAGES:
        for src in (REPO / pkg).rglob("*.py"):
            dst = root / src.relative_to(REPO)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return root


def test_the_import_contracts_hold(source_copy: Path) -> None:
    res = _lint_imports(source_copy)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("flatlora/bench/records.py", "import reports.io", "flatlora is not allowed to import reports"),
        ("tasks/llm.py", "import flows.cli_llm", "tasks is not allowed to import flows"),
        ("reports/stats.py", "import llm_eval.summary", "reports is not allowed to import llm_eval"),
        ("flatlora/bench/atomic.py", "import torch", "flatlora.bench.atomic is not allowed to import torch"),
        ("flatlora/model.py", "import flatlora.bench.models", "flatlora.model is not allowed to import"),
        ("reports/markdown.py", "import prefect", "reports is not allowed to import prefect"),
        ("llm_eval/scored.py", "import llm_eval.summary", "No cycles are allowed in llm_eval"),
        (
            "flatlora/bench/records.py",
            "import flatlora.bench.rundir",
            "No cycles are allowed in flatlora.bench",
        ),
        (
            "flatlora/bench/gen_data.py",
            "import flatlora.bench.validation",
            "No cycles are allowed in flatlora.bench",
        ),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(
    source_copy: Path, module: str, line: str, expected: str
) -> None:
    path = source_copy / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{line}  # noqa\n", encoding="utf-8")
        res = _lint_imports(source_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert res.returncode != 0 and expected in " ".join(res.stdout.split()), res.stdout + res.stderr


def test_the_llm_harness_and_the_atomic_writes_load_without_torch() -> None:
    """`import flatlora` is lazy, so the LLM harness, which shares only the atomic writes with the
    benchmark harness, starts without torch."""
    code = (
        "import sys, llm_eval.analysis, llm_eval.records, flatlora.bench.atomic; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
    res = subprocess.run(
        [sys.executable, "-c", "import flatlora; print(flatlora.FlatLora.__module__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip() == "flatlora.model"
