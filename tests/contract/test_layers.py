"""The package's folders import one way: the folder import graph has no cycle, and each layer stays in its floor.

The graph is read here from the source with :mod:`ast` (every ``import`` and ``from ... import``, also those
inside functions), so no external tool is needed. A node is a sub-package (``engine``, ``datasets``, ...) or
a module at the package root (``config``, ``registry``, ...); an edge is "some file of A imports something of B".
"""
from __future__ import annotations

import ast
import os
from collections import defaultdict

from run_helpers import REPO

NOT_PACKAGE = {"tests", "docs", "scripts", "site", "build", "configs"}
ROOT_SCRIPTS = {"setup.py", "train.py", "parse_test_res.py"}  # entry files, not modules of the package


def _nodes() -> tuple[set[str], set[str]]:
    folders = {name for name in os.listdir(REPO) if name not in NOT_PACKAGE
               and os.path.isfile(os.path.join(REPO, name, "__init__.py"))}
    modules = {name[:-3] for name in os.listdir(REPO) if name.endswith(".py")
               and name not in ROOT_SCRIPTS and name != "__init__.py"}
    return folders, modules


def _target(parts: list[str], folders: set[str], modules: set[str]) -> str | None:
    """The node that the absolute package path ``parts`` (without ``hgclip``) belongs to."""
    if not parts:
        return None
    return parts[0] if parts[0] in folders or parts[0] in modules else None


def import_graph() -> dict[str, dict[str, set[str]]]:
    """``graph[a][b]``: the files of node ``a`` that import node ``b``."""
    folders, modules = _nodes()
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    files = [(name, os.path.join(REPO, name + ".py")) for name in modules]
    for folder in folders:
        for directory, _, names in os.walk(os.path.join(REPO, folder)):
            files += [(folder, os.path.join(directory, name)) for name in names if name.endswith(".py")]
    for node, path in files:
        relpath = os.path.relpath(path, REPO)
        package = relpath.split(os.sep)[:-1]  # the file's package, as path parts below hgclip
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=relpath)
        for statement in ast.walk(tree):
            targets: list[list[str]] = []
            if isinstance(statement, ast.ImportFrom):
                if statement.level:
                    base = package[: len(package) - (statement.level - 1)]
                    module = base + (statement.module.split(".") if statement.module else [])
                    targets = [module] if statement.module else [module + [alias.name] for alias in statement.names]
                elif statement.module and statement.module.split(".")[0] == "hgclip":
                    module = statement.module.split(".")[1:]
                    targets = [module] if module else [[alias.name] for alias in statement.names]
            elif isinstance(statement, ast.Import):
                targets = [alias.name.split(".")[1:] for alias in statement.names if alias.name.startswith("hgclip.")]
            for parts in targets:
                target = _target(parts, folders, modules)
                if target is not None and target != node:
                    graph[node][target].add(relpath)
    return graph


def _cycle(graph: dict[str, dict[str, set[str]]]) -> list[str]:
    """One cycle of the graph as a list of nodes (first == last), or [] when it has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _describe(graph, cycle: list[str]) -> str:
    return "; ".join(f"{a} -> {b} ({', '.join(sorted(graph[a][b])[:3])})" for a, b in zip(cycle, cycle[1:]))


def test_the_folder_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"engine", "runtime", "datasets", "evaluation", "models", "trainers"} <= set(graph)
    cycle = _cycle(graph)
    assert not cycle, f"import cycle: {_describe(graph, cycle)}"


def test_the_cycle_check_finds_a_cycle():
    """The check itself: a graph with a cycle is reported, one without is not."""
    assert _cycle({"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}, "c": {"a": {"c.py"}}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}}) == []


def test_the_runtime_base_imports_only_common():
    graph = import_graph()
    assert set(graph.get("runtime", {})) <= {"common"}, dict(graph["runtime"])
    assert set(graph.get("common", {})) == set(), dict(graph["common"])


def test_the_life_cycle_sits_above_datasets_evaluation_and_models():
    graph = import_graph()
    assert {"datasets", "evaluation", "models"} <= set(graph["engine"])
    for lower in ("common", "runtime", "hierarchy", "backbones", "embedded", "datasets", "evaluation", "models",
                  "config", "registry"):
        assert "engine" not in graph.get(lower, {}), f"{lower} imports engine: {sorted(graph[lower]['engine'])}"


def test_backbones_reach_the_tiny_clip_without_importing_embedded():
    graph = import_graph()
    assert "embedded" not in graph.get("backbones", {}), sorted(graph["backbones"]["embedded"])
    assert "backbones" in graph["embedded"]  # embedded registers its backbones into the backbones layer


#: Every node from the bottom up: a node may import only nodes listed before it (docs/development/layout.md).
LAYERS = ["common", "hierarchy", "runtime", "registry", "config", "backbones", "embedded", "datasets", "models",
          "evaluation", "engine", "trainers", "project", "plugin", "benchmarks", "cli"]


def test_every_import_points_down_the_documented_floors():
    graph = import_graph()
    folders, modules = _nodes()
    assert set(LAYERS) == folders | modules, "place the new folder or root module in LAYERS (and the layout page)"
    upward = [f"{a} -> {b} ({', '.join(sorted(files)[:2])})" for a, targets in graph.items()
              for b, files in targets.items() if LAYERS.index(b) > LAYERS.index(a)]
    assert not upward, "imports that climb a floor: " + "; ".join(upward)
