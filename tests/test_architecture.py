"""The arrows point one way (ARCHITECTURE.md): blueprints -> services -> dao/models and
geo; jobs -> services; services reach jobs only by name through app.jobs; geo never
imports app. Read from the source, imports inside functions included, so a cycle
hidden in a function-level import is found too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ("admin", "analysts", "api", "auth", "callbacks", "officers", "public", "residents")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from app import jobs` imports the module app.jobs.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for folder in ("app", "geo") for p in (ROOT / folder).rglob("*.py")]
    modules = {module_name(p) for p in files}
    edges = {}
    for path in files:
        name = module_name(path)
        # A package's __init__ importing its own parent is not an arrow worth drawing.
        edges[name] = {m for m in imports_of(path, modules) if m != name and m not in ("app",)}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(graph()) == []


def test_services_reach_jobs_only_by_name_and_jobs_never_import_views():
    edges = graph()
    for module, imported in edges.items():
        if module.startswith("app.services") or module.startswith("app.dao"):
            job_modules = {m for m in imported if m.startswith("app.jobs.")}
            assert not job_modules, f"{module} imports {job_modules}: enqueue by name"
        if module.startswith("app.jobs"):
            views = {m for m in imported if m.split(".")[1:2] and m.split(".")[1] in BLUEPRINTS}
            assert not views, f"{module} imports views {views}"


def test_geo_never_imports_app():
    for module, imported in graph().items():
        if module.startswith("geo"):
            assert not {m for m in imported if m.startswith("app")}, module


def test_the_check_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
