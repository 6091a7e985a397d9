"""The serverless templates' secrets: the database URL never sits in a template or a parameter.

The Lambda (SAM) template reads it from Secrets Manager through a CloudFormation dynamic
reference, checked here after SAM's own translation (offline, as `sam deploy` would run it).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from bosun.deploy.serverless import DATABASE_SECRET, cloud_run_job, lambda_template, to_yaml
from bosun.errors import ConfigurationError
from tests.deploy.validators import translate_sam

APP = "agents.py"
# `{{resolve:secretsmanager:SECRET-ID:SecretString}}`: the whole SecretString, its latest
# version (versionless references follow rotations at the next stack update).
DYNAMIC_REFERENCE = re.compile(
    r"^\{\{resolve:secretsmanager:\$\{DatabaseSecret\}:SecretString\}\}$"
)


def test_the_lambda_template_takes_the_database_url_from_secrets_manager() -> None:
    template = yaml.safe_load(to_yaml(lambda_template(APP, ["default", "gpu"], 600)))
    translated = translate_sam(template)
    function = translated["Resources"]["Worker"]["Properties"]
    url = function["Environment"]["Variables"]["BOSUN_DATABASE_URL"]
    # A dynamic reference, resolved by CloudFormation at deploy time: not a plain string, not a
    # parameter (whose value the stack would keep).
    assert set(url) == {"Fn::Sub"}
    assert DYNAMIC_REFERENCE.match(url["Fn::Sub"]), url
    parameters = translated["Parameters"]
    assert parameters["DatabaseSecret"]["Default"] == DATABASE_SECRET
    assert set(parameters) == {"ImageUri", "DatabaseSecret"}
    assert "postgresql://" not in json.dumps(template["Resources"])


def test_the_cloud_run_job_takes_the_database_url_from_secret_manager() -> None:
    job = cloud_run_job(APP, ["default"], 900)
    (container,) = job["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["BOSUN_DATABASE_URL"] == {
        "name": "BOSUN_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "bosun-database-url", "key": "latest"}},
    }


def test_cpu_only_targets_leave_the_gpu_queue_to_a_gpu_pool() -> None:
    template = lambda_template("app:app", ["default", "gpu"], 600)
    variables = template["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]
    assert variables["BOSUN_QUEUES"] == "default"
    args = cloud_run_job("app:app", ["default", "gpu"], 600)["spec"]["template"]["spec"][
        "template"
    ]["spec"]["containers"][0]["args"]
    assert "gpu" not in args and args[args.index("--queue") + 1] == "default"
    for make in (lambda_template, cloud_run_job):
        with pytest.raises(ConfigurationError, match="has no GPUs: deploy a GPU pool"):
            make("app:app", ["gpu"], 600)
