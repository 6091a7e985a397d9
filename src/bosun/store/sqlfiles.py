"""SQL kept in files, per dialect: named queries, numbered migrations and current functions.

A dialect's stored functions (PostgreSQL's) each live in one file, `sql/<dialect>/functions/
<name>.sql`, holding the `CREATE OR REPLACE FUNCTION` of every overload of that name as it is
now. The store re-applies them after the migrations, so a changed function body needs no
migration; one whose signature or return type changes (which CREATE OR REPLACE cannot do) still
needs a migration that drops the old one. Migrations already applied stay as they were.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")
_FUNCTION = re.compile(r"^\w+\.sql$")


def load_queries(dialect: str) -> dict[str, str]:
    """Parse `sql/<dialect>/queries.sql` into {name: statement}."""
    text = resources.files("bosun.store").joinpath("sql", dialect, "queries.sql").read_text()
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@dataclass(frozen=True)
class Migration:
    """One schema migration: applied in `version` order, exactly once."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations, oldest first."""
    folder = resources.files("bosun.store").joinpath("sql", dialect, "migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return found


@dataclass(frozen=True)
class SqlFunction:
    """One file of `functions/`: the current definition of the functions of one name."""

    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def functions_digest(functions: list[SqlFunction]) -> str:
    """One digest of a set of function files: what a release's function revision stands for."""
    lines = "".join(f"{f.name} {f.sha256}\n" for f in sorted(functions, key=lambda f: f.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def load_functions(dialect: str) -> list[SqlFunction]:
    """The dialect's current function definitions, in name order (none where it has none)."""
    folder = resources.files("bosun.store").joinpath("sql", dialect, "functions")
    if not folder.is_dir():
        return []
    found = [
        SqlFunction(entry.name.removesuffix(".sql"), entry.read_text())
        for entry in folder.iterdir()
        if _FUNCTION.match(entry.name)
    ]
    return sorted(found, key=lambda f: f.name)
