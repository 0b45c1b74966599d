"""The arrows point one way (ARCHITECTURE.md): blueprints -> services -> dao/models and
geo; jobs -> services; services reach jobs only by name through app.jobs; geo never
imports app. Read from the source, imports inside functions included, so a cycle
hidden in a function-level import is found too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = (
    "admin",
    "analysts",
    "api",
    "auth",
    "basemap",
    "callbacks",
    "health",
    "inbox",
    "officers",
    "public",
    "residents",
)


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


# SQL written out as text against the app's tables lives in app/dao (issue 11). Also
# allowed: geo's loaders, which write the postcode, boundary and named-place tables
# through the connection they are given. migrations/, tests/ and bench/ are not scanned.
SQL_ALLOWED = ("app/dao/", "geo/loaders.py", "geo/names.py", "geo/postcode_loader.py")
SQL_TABLE = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|TRUNCATE)\s+(?:ONLY\s+|IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"([A-Za-z_][A-Za-z0-9_]*)",
    re.IGNORECASE,
)


def _is_sql_call(call: ast.Call, text_names: set[str]) -> bool:
    """SQLAlchemy's text(...), psycopg's sql.SQL(...), exec_driver_sql(...), or a
    cursor's execute/executemany/copy given a string of its own."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in text_names
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "text":
        return isinstance(func.value, ast.Name) and func.value.id in ("sa", "sqlalchemy")
    if func.attr in ("SQL", "exec_driver_sql"):
        return True
    if func.attr in ("execute", "executemany", "copy") and call.args:
        return isinstance(call.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
    return False


def raw_sql_tables(source: str, tables: set[str]) -> list[tuple[int, set[str]]]:
    """(line, tables named) for each call in the source that runs SQL written as text
    against any of `tables`. A name used in the SQL (a column list, a shared WHERE) is
    followed to what the module assigns to it."""
    tree = ast.parse(source)
    # `text` is SQL only where it is SQLAlchemy's: a service may have a text() of its own.
    text_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name == "text"
    }
    assigned: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)

    def strings(node: ast.AST, seen: set[str]) -> list[str]:
        found = []
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                found.append(part.value)
            elif isinstance(part, ast.Name) and part.id in assigned and part.id not in seen:
                for value in assigned[part.id]:
                    found += strings(value, seen | {part.id})
        return found

    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_sql_call(node, text_names):
            sql = " ".join(s for arg in node.args for s in strings(arg, set()))
            named = {m.lower() for m in SQL_TABLE.findall(sql)} & tables
            if named:
                hits.append((node.lineno, named))
    return sorted(hits, key=lambda hit: hit[0])


def app_tables() -> set[str]:
    import app.models  # noqa: F401 (registers every table)
    from app.extensions import db

    return set(db.metadata.tables)


def test_sql_against_the_apps_tables_is_written_only_in_the_dao():
    tables = app_tables()
    found = []
    for path in sorted(p for folder in ("app", "geo") for p in (ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(SQL_ALLOWED):
            continue
        for line, named in raw_sql_tables(path.read_text(), tables):
            found.append(f"{relative}:{line} ({', '.join(sorted(named))})")
    assert not found, "SQL outside app/dao; move it to a dao function:\n" + "\n".join(found)


def test_the_sql_check_finds_sql_as_text_and_ignores_the_rest():
    tables = {"postcodes", "places", "residents", "alerts"}
    source = '''
from sqlalchemy import text
INSIDE = "FROM postcodes p JOIN places pl ON pl.id = :id"
def count(conn, cur):
    """Counts rows from residents (a docstring is not SQL)."""
    conn.execute(text("SELECT count(*) " + INSIDE))
    cur.execute("update alerts SET status = 'sent'")
    conn.execute(text("SELECT setseed(:s)"))
    conn.execute(text("DROP TABLE IF EXISTS preview_targets"))
'''
    assert raw_sql_tables(source, tables) == [(6, {"postcodes", "places"}), (7, {"alerts"})]
    own_text = """
def text(name, label): ...
name = text("name", "Where you live, from residents")
"""
    assert raw_sql_tables(own_text, tables) == []


# Views only translate HTTP (issue 11): a blueprint reads the request, calls a service,
# and renders or redirects. The rules are the services': a view never commits or rolls
# back, never counts in Redis or queues a job, and writes no query. Loading one row by
# its id for a 404 (db.session.get) is all it asks of the session; handing db.session
# to a dao function is not a query of its own.
SESSION_METHODS_FOR_VIEWS = {"get"}


def _is_db_session(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "session"
        and isinstance(node.value, ast.Name)
        and node.value.id == "db"
    )


def rules_in_view(source: str) -> list[tuple[int, str]]:
    """(line, what) for each thing in a view module's source that belongs in a service."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom):
                # `from app import jobs` imports the module app.jobs.
                module = node.module or ""
                modules = [module] + [f"{module}.{name}" for name in names]
            else:
                modules = names
            if any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in modules):
                found.append((node.lineno, "imports sqlalchemy (a query)"))
            if any(m == "app.jobs" or m.startswith("app.jobs.") for m in modules):
                found.append((node.lineno, "imports app.jobs (queues a job)"))
            if "redis_store" in names:
                found.append((node.lineno, "imports redis_store"))
        elif isinstance(node, ast.Attribute):
            if node.attr in ("commit", "rollback"):
                found.append((node.lineno, f"calls .{node.attr}()"))
            elif node.attr in ("enqueue", "redis_store"):
                found.append((node.lineno, f"uses .{node.attr}"))
            elif _is_db_session(node.value) and node.attr not in SESSION_METHODS_FOR_VIEWS:
                found.append((node.lineno, f"calls db.session.{node.attr}"))
        elif isinstance(node, ast.Name) and node.id == "redis_store":
            found.append((node.lineno, "uses redis_store"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name == "text":
                found.append((node.lineno, "calls text() (SQL)"))
    return sorted(set(found))


def test_views_leave_transactions_redis_jobs_and_queries_to_services():
    found = []
    for blueprint in BLUEPRINTS:
        path = ROOT / "app" / blueprint / "__init__.py"
        relative = path.relative_to(ROOT).as_posix()
        found += [f"{relative}:{line} {what}" for line, what in rules_in_view(path.read_text())]
    assert not found, "A rule in a view; move it to a service:\n" + "\n".join(found)


def test_the_view_check_finds_rules_and_lets_a_view_load_a_row_for_a_404():
    source = """
from app import jobs
from app.extensions import db, redis_store
from sqlalchemy import select, text

def view(alert_id):
    alert = db.session.get(Alert, alert_id) or abort(404)
    rows = db.session.scalars(select(Alert)).all()
    found = postcodes_dao.by_postcode(db.session, "BS16AD")
    redis_store.client.set("key", 1)
    jobs.enqueue("notices.send_manage_link", "key")
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    session.rollback()
"""
    assert rules_in_view(source) == [
        (2, "imports app.jobs (queues a job)"),
        (3, "imports redis_store"),
        (4, "imports sqlalchemy (a query)"),
        (8, "calls db.session.scalars"),
        (10, "uses redis_store"),
        (11, "uses .enqueue"),
        (12, "calls db.session.execute"),
        (12, "calls text() (SQL)"),
        (13, "calls .commit()"),
        (14, "calls .rollback()"),
    ]


def test_every_box_that_scrolls_sideways_takes_focus_and_has_a_name():
    """A keyboard scrolls a box only once it has focus, and a screen reader names the
    region it lands on. Found by an outside check: the sent report's widest table was
    cut off at 1440 px and its box could not take focus."""
    templates = ROOT / "app" / "templates"
    missing = []
    for path in templates.rglob("*.html"):
        for tag in re.findall(r"<div[^>]*class=\"table-scroll\"[^>]*>", path.read_text()):
            if 'tabindex="0"' not in tag or 'role="region"' not in tag or "aria-label" not in tag:
                missing.append(f"{path.relative_to(templates)}: {tag}")
    assert missing == []


def method_checks_other_than_post(source: str) -> list[int]:
    """Lines comparing request.method with anything but "POST": a view that asks "is
    it GET?" does its POST's work on a HEAD (Flask answers HEAD with the GET view, and
    HEAD needs no form token)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and ast.unparse(node.left) == "request.method":
            compared = [c.value for c in node.comparators if isinstance(c, ast.Constant)]
            if compared != ["POST"]:
                found.append(node.lineno)
    return found


def test_views_ask_whether_a_request_is_a_post_never_whether_it_is_a_get():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "app").rglob("*.py"))
        if (lines := method_checks_other_than_post(path.read_text()))
    }
    assert found == {}


def test_the_method_check_finds_a_get_check():
    source = 'if request.method == "GET":\n    pass\nif request.method != "POST":\n    pass\n'
    assert method_checks_other_than_post(source) == [1]
    assert method_checks_other_than_post('x = request.method in ("GET", "HEAD")') == [1]


TRANSLATING = {"_", "gettext", "ngettext", "lazy_gettext", "_l"}


def untranslated_flashes(source: str) -> list[int]:
    """Lines flashing words as they are written (a string or an f-string, alone or
    joined to others), not through gettext: Welsh pages said them in English ("Your
    answer is on its way", then "Approved: " + "it is going out now.": outside checks)."""

    def words_as_written(node: ast.AST) -> bool:
        if isinstance(node, ast.Call) and ast.unparse(node.func) in TRANSLATING:
            return False
        if isinstance(node, ast.IfExp):  # its condition's strings are no words shown
            return words_as_written(node.body) or words_as_written(node.orelse)
        if isinstance(node, ast.Compare | ast.Subscript):
            return False
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return any(c.isalpha() for c in node.value)
        return any(words_as_written(child) for child in ast.iter_child_nodes(node))

    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "flash"
        and node.args
        and words_as_written(node.args[0])
    ]


def test_every_flashed_message_is_translated():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "app").rglob("*.py"))
        if (lines := untranslated_flashes(path.read_text()))
    }
    assert found == {}


def test_the_flash_check_finds_words_as_written():
    source = 'flash("Saved.")\nflash(f"Saved {n}.")\nflash(_("Saved."))\nflash(str(error))\n'
    assert untranslated_flashes(source) == [1, 2]
    joined = 'flash("Approved: " + ("now." if a else f"at {t}."))\nflash(_("A") if a else _("B"))\n'
    assert untranslated_flashes(joined) == [1]
    assert untranslated_flashes('flash(_("At %(t)s.", t=when(t)) + " ")\n') == []
