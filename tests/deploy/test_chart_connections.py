"""The chart's database connections: it adds up what every bosun process may open at full
scale, refuses values over `database.maxConnections` unless a pooler takes them, and can run
PgBouncer (transaction pooling) itself. Rendered offline by Helm's engine; every object is
validated (tests/deploy/test_chart.py has the rest of the chart)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bosun.deploy.helm import render
from bosun.errors import ConfigurationError
from bosun.records import NewRun
from bosun.store.postgres import PostgresStore
from bosun.store.postgres.io import split_url
from tests.deploy.test_chart import env_of, find, one, pod_spec, rendered, values
from tests.helpers.pg_servers import pgbouncer

URL = "postgresql://bosun:secret@postgres.db.svc.cluster.local:5432/bosun?sslmode=require"
# 2 API replicas (+1 surge), a Deployment pool of 10 (+3 surge), a ScaledJob pool of 4, the
# migration Job: 21 processes; pool_max 4 + 1 LISTEN each; 2 KEDA scalers.
POOLS = [
    {"name": "default", "queues": ["default"], "maxReplicas": 10},
    {"name": "batch", "queues": ["batch"], "mode": "scaledjob", "maxReplicas": 4},
]
NEEDED = 21 * (4 + 1) + 2


def sized(max_connections: int, **overrides: Any) -> dict[str, Any]:
    database = {"url": URL, "poolMax": 4, "maxConnections": max_connections}
    database.update(overrides.pop("database", {}))
    return values(database=database, pools=POOLS, **overrides)


def secret_data(objects: list[dict[str, Any]], name: str = "prod-bosun-database") -> Any:
    return one(objects, "Secret", name)["stringData"]


def test_the_chart_adds_up_every_process_connections_and_refuses_more_than_the_server_has() -> None:
    objects = rendered(sized(NEEDED))
    assert find(objects, "Deployment", "prod-bosun-worker-default")
    with pytest.raises(ConfigurationError) as refused:
        render(sized(NEEDED - 1))
    message = str(refused.value)
    assert f"database.maxConnections is {NEEDED - 1}" in message
    assert f"need up to {NEEDED} connections" in message
    assert "21 bosun processes (3 API pods and 17 worker pods" in message
    assert "pool_max 4 + 1 LISTEN" in message and "pgbouncer.enabled" in message


def test_without_a_declared_limit_or_with_a_pooler_of_your_own_nothing_is_refused() -> None:
    rendered(sized(0))  # maxConnections 0: not checked, as before
    rendered(sized(10, database={"pooler": True}))


def test_pool_max_goes_into_the_url_and_keda_keeps_the_plain_one() -> None:
    objects = rendered(sized(NEEDED))
    data = secret_data(objects)
    assert data["database-url"] == f"{URL}&pool_max=4"
    assert data["direct-url"] == URL
    auth = one(objects, "TriggerAuthentication", "prod-bosun-postgres")
    assert auth["spec"]["secretTargetRef"][0]["key"] == "direct-url"
    # bosun's default pool needs nothing added, and the URL's own pool_max is the budget's.
    assert secret_data(rendered(values()))["database-url"] == values()["database"]["url"]
    own = values(database={"url": f"{URL}&pool_max=30", "maxConnections": 17 * 31 + 1})
    rendered(own)
    with pytest.raises(ConfigurationError, match="pool_max 30"):
        render(values(database={"url": f"{URL}&pool_max=30", "maxConnections": 17 * 31}))


def test_pgbouncer_in_the_release_takes_the_processes_connections() -> None:
    # The example: 143 worker pods of pool_max 10 against max_connections 100.
    vals = values(
        database={"url": URL, "maxConnections": 100},
        pools=[{"name": "default", "queues": ["default"], "maxReplicas": 143}],
        pgbouncer={"enabled": True},
    )
    with pytest.raises(ConfigurationError, match="Put a pooler in front"):
        render({**vals, "pgbouncer": {"enabled": False}})
    objects = rendered(vals)
    deployment = one(objects, "Deployment", "prod-bosun-pgbouncer")
    pod = pod_spec(deployment)
    container = pod["containers"][0]
    assert container["command"] == ["/usr/bin/pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert one(objects, "Service", "prod-bosun-pgbouncer")["spec"]["ports"][0]["port"] == 6432
    config = secret_data(objects, "prod-bosun-pgbouncer")
    ini = config["pgbouncer.ini"]
    for line in (
        "bosun = host=postgres.db.svc.cluster.local port=5432 dbname=bosun",
        "pool_mode = transaction",
        "default_pool_size = 20",
        "max_db_connections = 20",
        "server_tls_sslmode = require",
        "auth_type = scram-sha-256",
    ):
        assert line in ini.splitlines(), line
    assert config["userlist.txt"] == '"bosun" "secret"\n'

    data = secret_data(objects)
    process_url = data["database-url"]
    assert process_url == (
        "postgresql://bosun:secret@prod-bosun-pgbouncer:6432/bosun?pool_max=10&pooler=transaction"
    )
    options = split_url(process_url)  # what bosun makes of it
    assert (options.pooler, options.listen_conninfo, options.pool_max) == ("transaction", None, 10)
    # KEDA and the migration hook (before an install's PgBouncer exists) reach the server.
    auth = one(objects, "TriggerAuthentication", "prod-bosun-postgres")
    assert auth["spec"]["secretTargetRef"][0]["key"] == "direct-url"
    assert data["direct-url"] == URL and data["migrate-url"] == f"{URL}&pool_max=1"
    (job,) = find(objects, "Job")
    migrate_env = env_of(pod_spec(job)["containers"][0])
    assert migrate_env["BOSUN_DATABASE_URL"]["secretKeyRef"]["key"] == "migrate-url"
    worker = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    worker_env = env_of(worker["containers"][0])
    assert worker_env["BOSUN_DATABASE_URL"]["secretKeyRef"]["key"] == "database-url"
    # bosun's pods may reach PgBouncer, and PgBouncer only the server and DNS.
    policy = one(objects, "NetworkPolicy", "prod-bosun-worker")["spec"]
    assert 6432 in {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    own = one(objects, "NetworkPolicy", "prod-bosun-pgbouncer")["spec"]
    assert own["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 6432}]
    assert {p["port"] for rule in own["egress"] for p in rule["ports"]} == {53, 5432}


def test_pgbouncer_limits_are_checked_too() -> None:
    many = [{"name": "default", "queues": ["default"], "maxReplicas": 143}]
    direct = values(
        database={"url": URL, "maxConnections": 100},
        pools=many,
        pgbouncer={"enabled": True, "listenDirect": True},
    )
    with pytest.raises(ConfigurationError, match="LISTEN connections"):
        render(direct)
    small = values(database={"url": URL}, pools=many, pgbouncer={"enabled": True})
    small["pgbouncer"]["maxClientConn"] = 500
    with pytest.raises(ConfigurationError, match="maxClientConn"):
        render(small)
    secret = values(database={"existingSecret": "db"}, pgbouncer={"enabled": True})
    with pytest.raises(ConfigurationError, match=r"needs database\.url"):
        render(secret)
    both = values(database={"url": URL, "pooler": True}, pgbouncer={"enabled": True})
    with pytest.raises(ConfigurationError, match="choose one pooler"):
        render(both)


def test_pgbouncer_listen_direct_gives_each_process_a_listen_url_on_the_server() -> None:
    objects = rendered(
        values(database={"url": URL}, pgbouncer={"enabled": True, "listenDirect": True})
    )
    process_url = secret_data(objects)["database-url"]
    assert parse_qs(urlsplit(process_url).query)["listen_url"] == [URL]
    options = split_url(process_url)
    assert options.listen_conninfo == URL and options.connections == 11


@pytest.mark.timeout(60)
def test_the_chart_pgbouncer_configuration_serves_bosun(pg_url: str) -> None:
    """The PgBouncer configuration the chart writes, run by a real PgBouncer in front of
    the test server: bosun opens, writes and reads through it as the chart's URL says."""
    database = urlsplit(pg_url).path.lstrip("/")
    url = f"postgresql://root:secret@127.0.0.1:5432/{database}"
    config = secret_data(
        rendered(values(database={"url": url}, pgbouncer={"enabled": True})),
        "prod-bosun-pgbouncer",
    )
    ini = re.sub(r"(?m)^listen_port = .*$", "listen_port = {port}", config["pgbouncer.ini"])
    ini = ini.replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    ini = ini.replace("auth_file = /etc/pgbouncer/userlist.txt", "auth_file = {auth_file}")
    ini = ini.replace("server_tls_sslmode = prefer", "server_tls_sslmode = disable")
    with pgbouncer(pg_url, config=(ini, config["userlist.txt"])) as bouncer:
        through = f"postgresql://root:secret@127.0.0.1:{bouncer.port}/{database}?pooler=transaction"

        async def use() -> None:
            store = PostgresStore(through)
            await store.open()
            try:
                run = NewRun(id=uuid.uuid4().hex, workflow="wf", queue="q", input="{}")
                run_id, created = await store.create_run(run)
                claimed = await store.claim_runs("w", ["q"], 1, 30, time.time())
                assert created and [c.run.id for c in claimed] == [run_id]
            finally:
                await store.close()

        asyncio.run(use())


def test_helm_lint_passes_strictly_with_pgbouncer_and_a_declared_limit() -> None:
    import helm_python

    from bosun.deploy.files import chart_dir
    from tests.deploy.validators import KUBERNETES_VERSION

    vals = sized(NEEDED, pgbouncer={"enabled": True, "replicas": 2})
    report = helm_python.lint(
        str(chart_dir()), strict=True, kube_version=f"v{KUBERNETES_VERSION}", values=vals
    )
    assert not report["errors"], report
    assert all(m["severity"] < 2 for m in report["messages"]), report
    assert find(rendered(vals), "PodDisruptionBudget", "prod-bosun-pgbouncer")
