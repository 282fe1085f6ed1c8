"""Telemetry kept in the store survives a full disk: the archive used to fail once and never
keep anything again for the rest of the run. Batches it cannot write wait (bounded) and are
written, in order, once the store works again; the screen gets them at once either way."""

from __future__ import annotations

from cctop.model.records import ApiCall, Source
from cctop.store.database import Store
from cctop.store.telemetry import OtlpArchive, archive_sink


def batch(n: int) -> list:
    return [
        ApiCall(f"s{n % 3}", None, "claude-sonnet-4-5", None, f"req_{n}_{i}", 1_800_000_000.0 + n,
                10, 20, 3000 + i, 400, final=True, source=Source.OTLP, reported_cost_usd=0.01)
        for i in range(50)
    ]  # fmt: skip


def test_a_full_store_keeps_the_batches_for_later(tmp_path):
    path = tmp_path / "s.sqlite3"
    Store.open(path, print).close()
    archive = OtlpArchive(path)
    shown: list = []
    said: list[str] = []
    clock = [0.0]
    sink = archive_sink(shown.extend, archive, said.append, clock=lambda: clock[0])
    try:
        sink(batch(0))
        pages = archive._db.execute("PRAGMA page_count").fetchone()[0]
        archive._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from here on
        for n in range(1, 40):
            sink(batch(n))
            clock[0] += 1.0
        assert len(shown) == 40 * 50  # the screen lost nothing
        assert [m for m in said if "cannot keep telemetry" in m and "disk is full" in m]
        archive._db.execute("PRAGMA max_page_count = 1073741823")  # space freed
        clock[0] += 10.0
        sink(batch(40))
        assert said[-1] == "telemetry is kept in the store again"
        kept = [r.request_id for records in archive.load() for r in records]
        assert kept == [r.request_id for n in range(41) for r in batch(n)]  # all, in order
    finally:
        archive.close()
