"""Keep Python's cyclic garbage collector from pausing requests to walk the whole heap.

Why: a started server holds ~170k long-lived objects (FastAPI and pydantic models, SQLAlchemy,
the price catalogue). Every few requests the collector's oldest generation walks all of them, which
takes ~100 ms on a 2-core machine, and it runs in whichever thread allocates at that moment while
holding the GIL, so every request in the process stalls with it: the slowest acknowledgements were
these pauses, not the database (docs/benchmarks.md, "Ingest"). The objects that exist once the server
is built and warmed up live until it exits, so ``gc.freeze()`` moves them out of the collector's
sight; later collections walk only what requests create (a few ms). Garbage made *before* the freeze
is collected first, and nothing is leaked: frozen objects are the ones that were alive anyway.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object to the permanent generation; returns how many."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d long-lived objects out of the garbage collector's scans", frozen)
    return frozen
