"""The ASGI application: REST API plus the OTLP/HTTP receiver on one port."""

from monitor.api.app import create_app

__all__ = ["create_app"]
