"""The package's layout keeps its dependencies pointing one way (README, "The orchestrator").

The chain side and the host side never import each other; billing talks to the chain and reads the
store, never Docker; the reconciler is the one module where chain-side state and Docker meet (the
service and the dev/CLI entry points only wire things together). Imports under ``TYPE_CHECKING``
are types, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "orchestrator"

# side -> the parts of the package it may not import (at run time)
FORBIDDEN = {
    "chain": {"host", "billing", "web", "cli", "dev", "reconciler", "service"},
    "host": {"chain", "billing", "web", "cli", "dev", "reconciler", "service"},
    "billing": {"host", "web", "cli", "dev", "reconciler", "service"},
    "web": {"chain", "host", "billing", "cli", "dev", "reconciler", "service"},
    "spec": {"chain", "host", "billing", "web", "cli", "dev", "reconciler", "service"},
    "store": {"chain", "billing", "web", "cli", "dev", "reconciler", "service"},
    "reconciler": {"billing", "web", "cli", "dev", "service"},
    "network_plane": {"chain", "billing", "web", "cli", "dev", "reconciler", "service"},
    "tenant_access": {"cli", "dev", "reconciler", "service"},
    "ops": {"host", "web", "cli", "dev", "reconciler", "service"},
}


def _runtime_imports(tree: ast.AST):
    """Import nodes, skipping the bodies of `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(path: Path, package: Path = PACKAGE) -> set[str]:
    """The first component under `orchestrator` of every module that ``path`` imports."""
    rel = path.relative_to(package).with_suffix("").parts
    found = set()
    for node in _runtime_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "orchestrator"]
        elif node.level:
            base = list(rel[:len(rel) - node.level])
            module = node.module.split(".") if node.module else []
            names = [base + module + ([a.name] if not module else []) for a in node.names]
        else:
            names = [node.module.split(".")] if node.module else []
            names = [n[1:] for n in names if n[0] == "orchestrator"]
            found.update(n[0] for n in names if n)
            continue
        found.update(n[0] for n in names if n and n[0] != "orchestrator")
    return found - {rel[0]}


def test_dependencies_point_one_way():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        side = path.relative_to(PACKAGE).with_suffix("").parts[0]
        bad = _targets(path) & FORBIDDEN.get(side, set())
        if bad:
            violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not violations, "dependencies point the wrong way:\n" + "\n".join(violations)


def test_layout_check_sees_a_violation(tmp_path):
    # The check must be able to fail: a host module importing the chain side, relatively or not, is caught.
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "bad.py").write_text("from ..chain.client import Chain\nimport orchestrator.web.status\n")
    assert _targets(tmp_path / "host" / "bad.py", tmp_path) == {"chain", "web"}
