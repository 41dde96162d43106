"""A write-behind queue: the hook hands its audit rows over and answers; one thread writes them in batches.

Nothing handed over is dropped: a failed batch is retried (with backoff) until it is written or the queue is
closed. The `write` callable decides what is worth retrying: the audit store moves a row the database will never
take to its dead letters instead of raising, so one bad row cannot stall the queue. `flush()` waits until
everything handed over so far is written (reads and feedback call it, so a coordinator or a feedback call always
sees every card that was returned), and `close()` drains the queue before the process exits.
A batch is gathered for up to `linger` seconds (unless the queue holds a full batch, is closing, or someone
flushes): one transaction then carries the cards of several hook calls, so the commit and the statement's
overhead are paid once per batch instead of once per call. Memory is bounded: once `max_pending` items wait
(the database is down or cannot keep up), `put()` waits for room at most `timeout` and then refuses, so the
caller can decline to show what it cannot record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("trial_screen.audit")

T = TypeVar("T")


class WriteBehind(Generic[T]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        max_batch: int = 500,
        max_pending: int = 2_000,  # cards hold their full report: ~50 KB each in memory
        retry_seconds: tuple[float, float] = (0.05, 5.0),
        linger: float = 0.0,
        name: str = "audit-writer",
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retry_first, self._retry_max = retry_seconds
        self._pending: deque[T] = deque()
        self._changed = threading.Condition()
        self._accepted = 0  # items handed over since start
        self._written = 0  # of those, items written (always a prefix: batches are written in order)
        self._closed = False
        self._linger = linger
        self._flushing = 0  # flush() callers waiting: the writer stops lingering for them
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, items: Sequence[T], timeout: float = 0.0) -> bool:
        """Hand items over (all or none); False if there was no room within `timeout` seconds, or the queue is
        closed (the process is stopping and can no longer promise the write)."""
        if not items:
            return True
        with self._changed:
            room = self._changed.wait_for(
                lambda: self._closed or len(self._pending) + len(items) <= max(self._max_pending, len(items)),
                timeout,
            )
            if self._closed or not room:
                return False
            idle = not self._pending
            self._pending.extend(items)
            self._accepted += len(items)
            # Wake the writer only when it waits for this: for a first item, or to end its linger with a full
            # batch. Waking it on every put made it re-check and sleep again once per hook call for nothing.
            if idle or len(self._pending) >= self._max_batch:
                self._changed.notify_all()
            return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over before this call is written; False if `timeout` ran out."""
        with self._changed:
            target = self._accepted
            self._flushing += 1
            self._changed.notify_all()
            try:
                self._changed.wait_for(lambda: self._written >= target or not self._thread.is_alive(), timeout)
            finally:
                self._flushing -= 1
            return self._written >= target

    @property
    def pending(self) -> int:
        with self._changed:
            return self._accepted - self._written

    def close(self, timeout: float = 30.0) -> int:
        """Stop accepting, write what waits (for at most `timeout` s); return how many items were not written."""
        drained = self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=1.0 if drained else 0.1)
        return self.pending

    def _next_batch(self) -> list[T] | None:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._pending) or self._closed)
            if self._linger:
                self._changed.wait_for(
                    lambda: len(self._pending) >= self._max_batch or self._closed or self._flushing > 0, self._linger
                )
            if not self._pending:
                return None
            return [self._pending[i] for i in range(min(self._max_batch, len(self._pending)))]

    def _run(self) -> None:
        try:
            self._write_until_closed()
        finally:  # wake flush() callers, which otherwise only notice a stopped writer when woken
            with self._changed:
                self._changed.notify_all()

    def _write_until_closed(self) -> None:
        delay = self._retry_first
        while (batch := self._next_batch()) is not None:
            try:
                self._write(batch)
            except Exception as exc:  # any failure: keep the rows and retry
                with self._changed:
                    if self._closed:
                        log.error("audit: %d row(s) not written at shutdown: %s", len(self._pending), exc)
                        return
                log.warning("audit: writing %d row(s) failed (%s); retrying in %.2fs", len(batch), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_first
            with self._changed:
                for _ in batch:
                    self._pending.popleft()
                self._written += len(batch)
                self._changed.notify_all()
