"""Prometheus scraping of inference servers and GPU exporters (vLLM, SGLang, TGI, Triton, DCGM).

``parse`` (prometheus_client's parser, reparsing only changed layouts) → ``convert`` (known names,
units, histograms, resets, sentinels) → ``runner`` (the worker's scrape loop, storing points).
"""

from collectors.prometheus.convert import TargetInfo, to_points
from collectors.prometheus.parse import ExpositionParser
from collectors.prometheus.runner import ScrapeRunner, run_scrapers
from collectors.prometheus.scrape import ScrapeError, Scraper

__all__ = ["ExpositionParser", "ScrapeError", "ScrapeRunner", "Scraper", "TargetInfo", "run_scrapers", "to_points"]
