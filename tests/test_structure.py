"""Size limits on the code: every module under qa_service/ at most 400 lines, every function at most 60.

Lines are physical lines: a function's run from its ``def`` to its last line,
docstring and comments included.  ruff enforces the complementary limits
(mccabe complexity and statements per function; see pyproject.toml).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "qa_service"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# (module path relative to qa_service/, qualified function name) exempt from the function limit.
EXEMPT_FUNCTIONS = {
    # A data literal, not logic: the OpenAPI document as one dict, which reads best in one piece.
    ("web/openapi.py", "openapi_spec"),
}


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method, nested ones included, with its qualified name."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _offenders() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        source = path.read_text("utf-8")
        n_lines = len(source.splitlines())
        if n_lines > MAX_MODULE_LINES:
            out.append(f"qa_service/{rel}: {n_lines} lines (max {MAX_MODULE_LINES})")
        for name, fn in _functions(ast.parse(source, filename=str(path))):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES and (rel, name) not in EXEMPT_FUNCTIONS:
                out.append(f"qa_service/{rel}:{fn.lineno} {name}: {length} lines (max {MAX_FUNCTION_LINES})")
    return out


def test_modules_and_functions_are_short():
    offenders = _offenders()
    assert not offenders, f"{len(offenders)} over the size limits:\n" + "\n".join(offenders)


def test_the_exemptions_still_exist():
    """An exemption for a function that was renamed or removed would silently exempt nothing."""
    for rel, name in EXEMPT_FUNCTIONS:
        tree = ast.parse((PACKAGE / rel).read_text("utf-8"))
        assert name in {n for n, _ in _functions(tree)}, f"qa_service/{rel} has no function {name}"
