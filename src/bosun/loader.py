"""Find the user's App from an APP_REF: `path/to/file.py[:name]` or `package.module[:name]`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from bosun.app import App


def load_app(ref: str) -> App:
    """Import the module named by `ref` and return its App.

    Without `:name`, the module must hold exactly one App (conventionally `app`).
    """
    from bosun.app import App

    if not ref:
        raise ConfigurationError("APP_REF is missing: give path/to/file.py or package.module:app")
    module_ref, _, attr = ref.partition(":")
    if module_ref.endswith(".py") or "/" in module_ref:
        path = Path(module_ref)
        if not path.is_file():
            raise ConfigurationError(f"APP_REF {ref!r}: no such file {path}")
        name = f"bosun_app_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"APP_REF {ref!r}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.resolve().parent))
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise ConfigurationError(f"APP_REF {ref!r}: cannot import {module_ref}: {exc}") from exc
    if attr:
        app = getattr(module, attr, None)
        if not isinstance(app, App):
            raise ConfigurationError(f"APP_REF {ref!r}: {attr!r} is not a bosun.App")
        return app
    apps = [v for v in vars(module).values() if isinstance(v, App)]
    if len(apps) != 1:
        raise ConfigurationError(
            f"APP_REF {ref!r}: found {len(apps)} bosun.App objects; name one with {module_ref}:NAME"
        )
    return apps[0]
