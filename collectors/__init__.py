"""Collectors: OTLP receivers, semantic-convention normalisation and metric scrapers."""
