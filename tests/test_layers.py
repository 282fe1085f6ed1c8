"""The layers hold by check: every import in a package (lazy ones inside functions too) is
read from the source, and a package may not reach what sits above it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cctop"

# package -> the modules (and their submodules) it must never import
FORBIDDEN = {
    "cctop.model": (
        "cctop.sources", "cctop.store", "cctop.report", "cctop.ui", "cctop.launch", "cctop.cli",
        "cctop.format", "textual", "rich", "sqlite3", "watchdog", "orjson", "grpc", "socket",
        "multiprocessing", "subprocess",
    ),
    "cctop.sources": ("cctop.ui", "cctop.report", "cctop.launch", "cctop.cli", "textual", "rich"),
    "cctop.store": (
        "cctop.sources", "cctop.ui", "cctop.report", "cctop.launch", "cctop.cli", "textual", "rich",
    ),
    "cctop.report": ("cctop.ui", "textual"),
    "cctop.ui": ("cctop.cli", "sqlite3"),
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # ``from cctop import format`` imports the module cctop.format.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    folder = PACKAGE.parent.joinpath(*package.split("."))
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    bad = []
    for path in files:
        for module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_reaches_nothing_above_it(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path, monkeypatch) -> None:
    """The contract test itself can fail: a lazy import inside a function is caught."""
    fake = tmp_path / "cctop" / "model"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text("def f():\n    from textual.app import App\n    from ..ui import app\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "cctop")
    assert sorted(_violations("cctop.model", FORBIDDEN["cctop.model"])) == [
        "cctop/model/bad.py imports cctop.ui",
        "cctop/model/bad.py imports cctop.ui.app",
        "cctop/model/bad.py imports textual.app",
        "cctop/model/bad.py imports textual.app.App",
    ]


def test_importing_the_model_loads_no_ui_or_io_library() -> None:
    """At run time too: importing every model module pulls in none of them indirectly."""
    code = (
        "import sys, pkgutil, importlib, cctop.model as m\n"
        "for info in pkgutil.iter_modules(m.__path__): importlib.import_module('cctop.model.' + info.name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in "
        "('textual', 'rich', 'sqlite3', 'watchdog', 'grpc')]\n"
        "print(' '.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def _connects(path: Path) -> list[int]:
    """Lines of ``path`` that call sqlite3.connect (as ``sqlite3.connect`` or a bare ``connect``
    imported from sqlite3)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    bare = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "sqlite3"
        and any(alias.name == "connect" for alias in node.names)
        for node in ast.walk(tree)
    )
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            dotted = (
                isinstance(func, ast.Attribute)
                and func.attr == "connect"
                and getattr(func.value, "id", "") == "sqlite3"
            )
            if dotted or (bare and isinstance(func, ast.Name) and func.id == "connect"):
                lines.append(node.lineno)
    return lines


def test_one_module_opens_the_sqlite_file() -> None:
    opened = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _connects(path))
    }
    assert list(opened) == ["cctop/store/connection.py"]
