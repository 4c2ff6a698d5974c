"""The package's layer rules, checked on the source (docs/architecture.md explains them).

* Imports flow one way: web / cli / evaluation -> ops -> qa -> index -> core, and ingest -> core.
  Lazy imports inside functions count too.
* Only ``index/`` knows which backend is configured: nothing outside it compares a ``backend``
  to a name, or probes an object with ``getattr``/``hasattr``.
* The environment is read in one module: ``core/settings.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa_service"

# What each top-level part of the package may import (besides itself).
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "index": {"core"},
    "qa": {"core", "index"},
    "ops": {"core", "ingest", "index", "qa"},
    "web": {"core", "ingest", "index", "qa", "ops"},
    "evaluation": {"core", "ingest", "index", "qa", "ops"},
    "cli": {"core", "ingest", "index", "qa", "ops", "web", "evaluation"},
    "__main__": {"cli"},
    "__init__": set(),
}
BACKEND_NAMES = {"embedded", "milvus"}
# The eval's side-by-side harness for Milvus names the engine it compares; it does not act on the
# configured backend.
NAMES_BACKENDS = {"evaluation/milvus.py"}
ENVIRONMENT_MODULE = "core/settings.py"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_parts(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level part of qa_service) of every import of the package, lazy ones included."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from qa_service import __version__`` imports the package itself, the bottom of every layer.
            names = [node.module] if node.module != "qa_service" else []
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = ["qa_service.<relative>"]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("qa_service."):
                found.append((node.lineno, name.split(".")[1]))
    return found


def test_the_layout_is_the_documented_one():
    parts = {_part(p) for p in _modules()}
    assert parts == set(ALLOWED), f"parts of qa_service not in the layer table: {parts ^ set(ALLOWED)}"


def test_imports_flow_one_way():
    wrong = []
    for path in _modules():
        part = _part(path)
        for line, target in _imported_parts(ast.parse(path.read_text("utf-8"))):
            if target != part and target not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({part}) imports {target}")
    assert not wrong, "imports against the layer rules:\n" + "\n".join(wrong)


def _backend_branches(tree: ast.AST) -> list[int]:
    """Lines that compare something called ``backend`` or a backend's name, or probe with getattr/hasattr."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(
                (isinstance(s, ast.Attribute) and s.attr == "backend")
                or (isinstance(s, ast.Name) and s.id == "backend")
                for s in sides
            )
            literal = any(isinstance(s, ast.Constant) and s.value in BACKEND_NAMES for s in sides)
            if named or literal:
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            lines.append(node.lineno)
    return lines


def test_only_the_index_package_knows_which_backend_is_configured():
    wrong = []
    for path in _modules():
        if _part(path) == "index" or str(path.relative_to(PACKAGE)) in NAMES_BACKENDS:
            continue
        wrong += [f"{path.relative_to(PACKAGE)}:{n}" for n in _backend_branches(ast.parse(path.read_text("utf-8")))]
    assert not wrong, "backend branches or getattr probes outside index/:\n" + "\n".join(wrong)


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv") for a in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_the_environment_is_read_in_one_module():
    readers = {
        str(path.relative_to(PACKAGE)) for path in _modules() if _reads_environment(ast.parse(path.read_text("utf-8")))
    }
    assert readers == {ENVIRONMENT_MODULE}


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("if settings.backend == 'milvus':\n    pass\n", True),
        ("x = getattr(index, 'ping', None)\n", True),
        ("if kind != 'embedded':\n    pass\n", True),
        ("if settings.port == 8000:\n    pass\n", False),
    ],
)
def test_the_backend_check_catches_what_it_should(source, caught):
    assert bool(_backend_branches(ast.parse(source))) is caught


def test_the_import_check_sees_lazy_imports():
    tree = ast.parse("def f():\n    from qa_service.web.app import create_app\n")
    assert _imported_parts(tree) == [(2, "web")]
