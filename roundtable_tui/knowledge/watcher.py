"""Live indexing: files added, changed or removed under the papers directory are indexed in a
background thread (watchfiles), without blocking the caller."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from roundtable_tui.knowledge.ingest import is_supported
from roundtable_tui.knowledge.store import IndexReport, KnowledgeStore

log = logging.getLogger(__name__)

# so many changed paths at once: one full pass is cheaper than one pass per path
_FULL_PASS_AT = 20


def _merge(total: IndexReport, part: IndexReport) -> None:
    total.added += part.added
    total.updated += part.updated
    total.removed += part.removed
    total.skipped += part.skipped
    total.chunks += part.chunks
    total.seconds += part.seconds
    total.changed.extend(part.changed)
    total.errors.extend(part.errors)


class PapersWatcher:
    """Watches `papers_dir` (default the store's) and keeps the store's index current.

    `start()` returns at once; the thread first brings the index up to date (when
    `initial_index`), then indexes every batch of changes and calls `on_change(report)` for
    each batch that changed something. `stop()` ends the thread."""

    def __init__(
        self,
        store: KnowledgeStore,
        papers_dir: str | Path | None = None,
        on_change: Callable[[IndexReport], None] | None = None,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        initial_index: bool = True,
        debounce_ms: int = 300,
        force_polling: bool | None = None,
    ) -> None:
        self.store = store
        self.papers_dir = Path(papers_dir or store.papers_dir).expanduser().resolve()
        self.on_change = on_change
        self.on_error = on_error
        self.initial_index = initial_index
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self.last_report: IndexReport | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.papers_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._run, name="roundtable-papers-watcher", daemon=True
        )
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the watcher is watching and the first pass is done."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> PapersWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the thread ---------------------------------------------------------------------

    def _accept(self, change: object, path: str) -> bool:
        from watchfiles import Change, DefaultFilter

        if not DefaultFilter()(change, path):  # type: ignore[arg-type]
            return False
        p = Path(path)
        return change == Change.deleted or p.is_dir() or is_supported(p)

    def _run(self) -> None:
        try:
            from watchfiles import watch

            first = True
            for changes in watch(
                self.papers_dir,
                watch_filter=self._accept,
                debounce=self.debounce_ms,
                step=50,
                rust_timeout=500,
                yield_on_timeout=True,
                stop_event=self._stop,
                raise_interrupt=False,
                force_polling=self.force_polling,
            ):
                if self._stop.is_set():
                    break
                if first:
                    # watching from here on; a pass now also catches what changed before
                    first = False
                    if self.initial_index:
                        self._report(self._guarded(lambda: self.store.index(self.papers_dir)))
                    self._ready.set()
                if changes:
                    paths = sorted({Path(p) for _, p in changes})
                    self._report(self._index(paths))
        except Exception as exc:
            self._error(exc)
        finally:
            self._ready.set()

    def _index(self, paths: list[Path]) -> IndexReport | None:
        if len(paths) >= _FULL_PASS_AT:
            return self._guarded(lambda: self.store.index(self.papers_dir))
        total = IndexReport()
        for path in paths:
            part = self._guarded(lambda p=path: self.store.index(p))  # type: ignore[misc]
            if part is not None:
                _merge(total, part)
        return total

    def _guarded(self, job: Callable[[], IndexReport]) -> IndexReport | None:
        try:
            return job()
        except Exception as exc:  # a bad file must not end the watcher
            self._error(exc)
            return None

    def _report(self, report: IndexReport | None) -> None:
        if report is None:
            return
        self.last_report = report
        if (report.changed or report.errors) and self.on_change is not None:
            try:
                self.on_change(report)
            except Exception as exc:
                self._error(exc)

    def _error(self, exc: BaseException) -> None:
        if self.on_error is not None:
            try:
                self.on_error(exc)
                return
            except Exception:
                pass
        log.error("papers watcher: %s", exc, exc_info=exc)
