"""llm-monitor core: domain model, storage, cost, query API, CLI and the tracing SDK."""

__version__ = "0.1.0"
