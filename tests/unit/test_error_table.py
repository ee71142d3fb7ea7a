"""One table of error codes: unique, listed in the README, and the only source of codes."""

import ast
import gc
import re
from pathlib import Path

import pytest

from abci_app import errors
from abci_app.errors import ERROR_CODES, AppError, _collect_codes

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "abci_app" / "handlers"


def _all_error_classes() -> list[type[AppError]]:
    found, pending = [AppError], list(AppError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_class_has_its_own_code() -> None:
    classes = _all_error_classes()
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes), sorted(codes)
    assert {cls.code: cls.__name__ for cls in classes} == {
        code: name for code, (name, _) in ERROR_CODES.items()}


def _collect_with_a_clash() -> str:
    class ClashError(AppError):
        """Reuses an assigned code."""

        code = errors.QueryNotFoundError.code

    try:
        _collect_codes()
    except RuntimeError as exc:
        return str(exc)
    return "no error"


def test_a_duplicate_code_is_refused() -> None:
    assert _collect_with_a_clash().startswith("duplicate error code 60")
    gc.collect()  # drop the throwaway class from AppError.__subclasses__()
    assert "ClashError" not in {cls.__name__ for cls in _all_error_classes()}


def _error_class(name: str) -> type[AppError] | None:
    value = getattr(errors, name, None)
    return value if isinstance(value, type) and issubclass(value, AppError) else None


def _is_table_code(node: ast.expr, constants: dict[str, ast.expr]) -> bool:
    """0, `<AppError subclass>.code`, a module constant bound to one, or a code passed on."""
    if isinstance(node, ast.Constant):
        return node.value == 0
    if isinstance(node, ast.Name):
        bound = constants.get(node.id)
        return bound is not None and isinstance(bound, ast.Attribute) and _is_table_code(
            bound, {})
    if isinstance(node, ast.Attribute) and node.attr == "code":
        if isinstance(node.value, ast.Name) and node.value.id[:1].isupper():
            cls = _error_class(node.value.id)
            return cls is not None and cls.code in ERROR_CODES
        return True  # a code computed elsewhere (result.code, exc.code) passed on
    return False


@pytest.mark.parametrize("source", sorted(HANDLERS.glob("*.py")), ids=lambda p: p.name)
def test_every_code_in_handlers_comes_from_the_table(source: Path) -> None:
    tree = ast.parse(source.read_text())
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    for name, value in constants.items():
        if "CODE" in name and isinstance(value, ast.Constant) and isinstance(value.value, int):
            assert value.value == 0, f"{source.name}: {name} = {value.value} is not in the table"
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "code":
            assert _is_table_code(node.value, constants), (
                f"{source.name}:{node.value.lineno}: code={ast.unparse(node.value)} "
                "is not an abci_app.errors code")


def test_readme_lists_exactly_the_table() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Error codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.*) \|$", section, flags=re.MULTILINE)
    assert {int(code): (name, meaning) for code, name, meaning in rows} == ERROR_CODES
