"""The package's import graph: no cycle, the plain-torch layers import nothing above them, and
no dependency hides inside a function."""
import ast
import graphlib

from helpers import ROOT

PACKAGE = ROOT / "ssl_ae"
LOW = ("ssl_ae.nets", "ssl_ae.graph", "ssl_ae.objectives")
HIGH = ("ssl_ae.evaluation", "ssl_ae.data", "ssl_ae.modules", "ssl_ae.pipeline", "ssl_ae.cli")


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path) -> tuple[set[str], set[str]]:
    """The ssl_ae modules that ``path`` imports at module level, and inside functions."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    tree = ast.parse(path.read_text())
    top, local = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
        elif isinstance(node, ast.Import):
            target = node.names[0].name
        else:
            continue
        if target.startswith("ssl_ae"):
            (top if node.col_offset == 0 else local).add(target)
    return top, local


def test_import_graph_has_no_cycle_and_points_down():
    graph, hidden = {}, []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        top, local = imports(path)
        graph[name] = {t for t in top if t != name and not name.startswith(t + ".")}
        hidden += [f"{name} -> {t}" for t in local]
    assert len(graph) > 30
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle
    upward = [f"{m} -> {t}" for m, targets in graph.items() if m.startswith(LOW)
              for t in targets if t.startswith(HIGH)]
    assert not upward, upward
    assert not hidden, hidden
