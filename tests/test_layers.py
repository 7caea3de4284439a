"""The package's import graph: no cycle, the plain-torch layers import nothing above them, no
dependency hides inside a function, and few floors. ``python tests/test_layers.py`` prints the
modules floor by floor."""
import ast
import graphlib
import textwrap

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
            # ``from . import probes`` imports the module ssl_ae.<package>.probes
            targets = {f"{target}.{a.name}" if is_module(f"{target}.{a.name}") else target
                       for a in node.names}
        elif isinstance(node, ast.Import):
            targets = {node.names[0].name}
        else:
            continue
        targets = {t for t in targets if t.startswith("ssl_ae")}
        (top if node.col_offset == 0 else local).update(targets)
    return top, local


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Each module's module-level ssl_ae imports, and the imports hidden inside functions."""
    graph, hidden = {}, []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        top, local = imports(path)
        graph[name] = {t for t in top if t != name and not name.startswith(t + ".")}
        hidden += [f"{name} -> {t}" for t in local]
    return graph, hidden


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor: 1 for a module that imports no other, else one above the highest
    it imports. A package's ``__init__`` only re-exports, so it shares its highest module's
    floor."""
    floor = {}
    for name in graphlib.TopologicalSorter(graph).static_order():
        below = max((floor[t] for t in graph[name]), default=0)
        package = ROOT.joinpath(*name.split("."), "__init__.py").exists()
        floor[name] = below if package and graph[name] else below + 1
    return floor


def test_import_graph_has_no_cycle_and_points_down():
    graph, hidden = import_graph()
    assert len(graph) > 30
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle
    upward = [f"{m} -> {t}" for m, targets in graph.items() if m.startswith(LOW)
              for t in targets if t.startswith(HIGH)]
    assert not upward, upward
    assert not hidden, hidden


def test_import_graph_has_few_floors():
    floor = floors(import_graph()[0])
    assert floor["ssl_ae.nets.registry"] == 1
    assert max(floor.values()) <= 9, sorted(floor.items(), key=lambda kv: -kv[1])[:12]


if __name__ == "__main__":
    by_floor = {}
    for name, level in floors(import_graph()[0]).items():
        by_floor.setdefault(level, []).append(name.removeprefix("ssl_ae."))
    for level in sorted(by_floor, reverse=True):
        print(textwrap.fill(", ".join(sorted(by_floor[level])), 96, initial_indent=f"{level:2d}  ",
                            subsequent_indent="    "))
