import pytest

from bosun import ConfigurationError
from bosun.store.sqlfiles import load_migrations, load_queries
from bosun.store.sqlite.io import SqliteConfig


def test_queries_and_migrations_load() -> None:
    queries = load_queries("sqlite")
    assert {"claim_runs", "check_lease", "finish_run", "insert_signal"} <= set(queries)
    migrations = load_migrations("sqlite")
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


def test_sqlite_urls() -> None:
    assert SqliteConfig.from_url("sqlite:///.bosun/bosun.db").path == ".bosun/bosun.db"
    config = SqliteConfig.from_url("sqlite:////tmp/x.db?synchronous=normal&busy_timeout_ms=10")
    assert (config.path, config.synchronous, config.busy_timeout_ms) == ("/tmp/x.db", "NORMAL", 10)
    for bad in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///x.db?synchronous=fast",
        "sqlite:///x.db?colour=red",
    ):
        with pytest.raises(ConfigurationError):
            SqliteConfig.from_url(bad)
