"""monitor.heap: start-up objects leave the garbage collector's scans; garbage is collected first."""

from __future__ import annotations

import gc
import weakref

from monitor.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freeze_collects_garbage_then_hides_live_objects_from_collections() -> None:
    live = _Node()
    live.other = live  # a cycle that is still referenced: it must survive and be frozen
    dead_a, dead_b = _Node(), _Node()
    dead_a.other, dead_b.other = dead_b, dead_a  # a garbage cycle: only the cyclic collector frees it
    probe = weakref.ref(dead_a)
    del dead_a, dead_b
    assert any(o is live for o in gc.get_objects())
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert probe() is None, "garbage made before the freeze must be collected, not frozen"
        assert not any(o is live for o in gc.get_objects()), "a frozen object is not scanned any more"
        after = _Node()
        assert any(o is after for o in gc.get_objects()), "objects made after the freeze are scanned as usual"
    finally:
        gc.unfreeze()
    assert any(o is live for o in gc.get_objects())
