"""The HTTP API server: `create_server(app, ServerConfig(...))` is an ASGI app for uvicorn."""

from bosun.server.app import create_server
from bosun.server.state import ServerConfig

__all__ = ["ServerConfig", "create_server"]
