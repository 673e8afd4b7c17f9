"""Drift detection: a window of live traffic against a reference (the previous window or a baseline), per segment.

    load        the calls (and scores) of a window, and their segments (all, model=…, service=…, tag=…)
    descriptors lengths, tokens, new-vocabulary rate, language, refusal/empty/error rates, per call
    stats       evidently's tests by name (K-S, PSI, Wasserstein, chi-squared, …) and embedding methods
    profiles    whylogs profiles per window: stored, merged for long references without raw rows
    compare     descriptors vs a raw or profiled reference -> one verdict per feature (pure)
    embeddings  sentence-embedding drift of inputs/outputs on a sample
    detect      the database side: detect, store_results, store_profiles, load_profile
    job         the worker's periodic round;  query: reads for the API and the dashboard

Needs the ``drift`` extra (evidently, whylogs, pandas); importing this package alone imports none of them.
"""
