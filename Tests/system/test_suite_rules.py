"""Rules for the system tests themselves."""
import ast
from pathlib import Path


def test_every_system_test_asserts():
    """A test that asserts nothing cannot fail: every test function here must assert something."""
    silent = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                if not any(isinstance(inner, ast.Assert) for inner in ast.walk(node)):
                    silent.append(f"{path.name}::{node.name}")
    assert silent == [], f"tests without an assertion: {silent}"
