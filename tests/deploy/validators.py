"""Offline validators for deployment files: Kubernetes, KEDA and Compose schemas.

- Built-in Kubernetes kinds: `kubernetes-validate` in strict mode (unknown fields are errors)
  for one fixed Kubernetes version, `KUBERNETES_VERSION`.
- KEDA's ScaledObject, ScaledJob and TriggerAuthentication: the CRD schemas kept in
  `deploy/schemas/keda` (see its README), made strict the same way, with `metadata` checked
  as Kubernetes' ObjectMeta and a ScaledJob's `jobTargetRef` as Kubernetes' JobSpec.
- The Prometheus Operator's ServiceMonitor: its CRD schema in
  `deploy/schemas/prometheus-operator`, checked the same way.
- Compose files: the compose-spec JSON schema in `deploy/schemas/compose`.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES_VERSION = "1.33.0"
KEDA_KINDS = {
    "ScaledObject": "scaledobject.v1alpha1.yaml",
    "ScaledJob": "scaledjob.v1alpha1.yaml",
    "TriggerAuthentication": "triggerauthentication.v1alpha1.yaml",
}
# Other custom resources the chart may render: kind -> (apiVersion, schema file under deploy/).
CRD_KINDS = {
    "ServiceMonitor": (
        "monitoring.coreos.com/v1",
        "schemas/prometheus-operator/servicemonitor.v1.yaml",
    ),
}
_K8S_DEFS = "https://kubernetes.io/api/_definitions.json"


class SchemaError(AssertionError):
    """A document broke its schema; the message names the object and the path."""


def validate_kubernetes(obj: dict[str, Any]) -> None:
    """Validate one built-in Kubernetes object strictly against KUBERNETES_VERSION."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise SchemaError(f"{_name(obj)}: {path}: {exc.message}") from None


def validate_keda(obj: dict[str, Any]) -> None:
    """Validate one KEDA object against its CRD schema, rejecting unknown fields."""
    if obj.get("apiVersion") != "keda.sh/v1alpha1":
        raise SchemaError(f"{_name(obj)}: apiVersion {obj.get('apiVersion')!r} is not KEDA's")
    validator = _keda_validator(obj["kind"])
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.path)
        raise SchemaError(f"{_name(obj)}: {path}: {first.message}")


def validate_crd(obj: dict[str, Any]) -> None:
    """Validate one object of a kind in CRD_KINDS against its CRD schema, strictly."""
    kind = obj.get("kind")
    if kind not in CRD_KINDS:
        raise SchemaError(f"{_name(obj)}: no CRD schema for kind {kind!r}")
    api_version, _ = CRD_KINDS[kind]
    if obj.get("apiVersion") != api_version:
        raise SchemaError(
            f"{_name(obj)}: apiVersion {obj.get('apiVersion')!r} is not {api_version}"
        )
    errors = sorted(_crd_validator(kind).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.path)
        raise SchemaError(f"{_name(obj)}: {path}: {first.message}")


def validate_object(obj: dict[str, Any]) -> None:
    """Validate a rendered object with the validator its kind needs."""
    if obj["kind"] in KEDA_KINDS:
        validate_keda(obj)
    elif obj["kind"] in CRD_KINDS:
        validate_crd(obj)
    else:
        validate_kubernetes(obj)


def validate_compose(project: dict[str, Any]) -> None:
    """Validate a loaded Compose file against the compose-spec schema."""
    errors = sorted(_compose_validator().iter_errors(project), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.path)
        raise SchemaError(f"compose: {path}: {first.message}")


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _strict(schema: Any) -> Any:
    """Reject unknown fields where the CRD lists the fields, as `--validate=strict` does."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        ref = schema.pop("x-kubernetes-ref", None)
        if ref is not None:
            schema["$ref"] = f"{_K8S_DEFS}#/$defs/{ref}"
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def _kubernetes_definitions() -> referencing.Resource[Any]:
    folder = f"v{KUBERNETES_VERSION}-local-strict"
    source = resources.files("kubernetes_validate") / "kubernetes-json-schema" / folder
    contents = json.loads((source / "_definitions.json").read_text())
    return referencing.Resource.from_contents(contents)


@functools.cache
def _keda_validator(kind: str) -> jsonschema.protocols.Validator:
    if kind not in KEDA_KINDS:
        raise SchemaError(f"no KEDA schema for kind {kind!r}")
    path = DEPLOY / "schemas" / "keda" / KEDA_KINDS[kind]
    return _crd_schema_validator(kind, "keda.sh/v1alpha1", path)


@functools.cache
def _crd_validator(kind: str) -> jsonschema.protocols.Validator:
    api_version, path = CRD_KINDS[kind]
    return _crd_schema_validator(kind, api_version, DEPLOY / path)


def _crd_schema_validator(
    kind: str, api_version: str, path: Path
) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load(path.read_text())
    schema = _strict(copy.deepcopy(crd))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["properties"]["apiVersion"]["const"] = api_version
    schema["properties"]["kind"]["const"] = kind
    schema["properties"]["metadata"] = {
        "$ref": f"{_K8S_DEFS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        _K8S_DEFS, _kubernetes_definitions()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DEPLOY / "schemas" / "compose" / "compose-spec.json").read_text())
    return jsonschema.Draft201909Validator(schema)


def validate_kubernetes_part(part: dict[str, Any], definition: str) -> None:
    """Validate part of a document (e.g. a Cloud Run container) as the Kubernetes type named.

    Args:
        part: the object, e.g. `{"image": …, "args": […]}`.
        definition: the type, e.g. `io.k8s.api.core.v1.Container`.
    """
    validator = _part_validator(definition)
    errors = sorted(validator.iter_errors(part), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.path)
        raise SchemaError(f"{definition}: {path}: {first.message}")


@functools.cache
def _part_validator(definition: str) -> jsonschema.protocols.Validator:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"{_K8S_DEFS}#/$defs/{definition}",
    }
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        _K8S_DEFS, _kubernetes_definitions()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def translate_sam(template: dict[str, Any]) -> dict[str, Any]:
    """Translate an AWS SAM template to CloudFormation as `sam deploy` would, offline.

    Raises:
        SchemaError: SAM refused the template (unknown property, bad event, …).
    """
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # A region is all the session is used for: nothing is sent to AWS.
    session = boto3.session.Session(region_name="eu-west-1")
    translator = Translator({}, Parser(), boto_session=session)
    try:
        translated: dict[str, Any] = translator.translate(copy.deepcopy(template), {})
    except InvalidDocumentException as exc:
        raise SchemaError(f"SAM: {exc}") from None
    return translated


def check_bosun_args(args: list[str]) -> None:
    """Parse `bosun ARGS` with the real command line, without running it.

    Raises:
        SchemaError: bosun would refuse the arguments (unknown option, bad value…).
    """
    import typer

    from bosun.cli import cli

    command: Any = typer.main.get_command(cli)
    name, rest = "bosun", list(args)
    try:
        # Walk down the command groups (`db upgrade`), then parse the leaf's options.
        while hasattr(command, "resolve_command"):
            context = command.make_context(name, list(rest), resilient_parsing=True)
            name, command, rest = command.resolve_command(context, rest)
            if command is None:
                raise SchemaError(f"bosun {' '.join(args)}: no such command")
        command.make_context(name, list(rest)).close()
    except Exception as exc:
        # typer vendors click: its usage errors are recognised by their `format_message`.
        if not hasattr(exc, "format_message"):
            raise
        raise SchemaError(f"bosun {' '.join(args)}: {exc.format_message()}") from None
