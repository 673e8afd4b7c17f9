"""Evaluators (relevance, toxicity, hallucination, …) and drift detection; see the Evaluators issue."""
