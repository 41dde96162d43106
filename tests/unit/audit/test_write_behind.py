"""The write-behind queue: order kept, nothing dropped on failures, bounded memory, drained on close."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from service.audit.write_behind import WriteBehind


class Sink:
    """Records what was written; fails the first `failures` writes; `gate` holds writes until set."""

    def __init__(self, failures: int = 0) -> None:
        self.written: list[int] = []
        self.failures = failures
        self.attempts = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, batch: Sequence[int]) -> None:
        self.gate.wait()
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        self.written.extend(batch)


def test_everything_handed_over_is_written_in_order() -> None:
    sink = Sink()
    queue = WriteBehind(sink, max_batch=7)
    for start in range(0, 100, 10):
        assert queue.put(list(range(start, start + 10)))
    assert queue.flush(timeout=5)
    assert sink.written == list(range(100))
    assert queue.close() == 0


def test_failed_writes_are_retried_until_they_succeed() -> None:
    sink = Sink(failures=3)
    queue = WriteBehind(sink, retry_seconds=(0.001, 0.01))
    assert queue.put([1, 2, 3])
    assert queue.flush(timeout=5)
    assert sink.written == [1, 2, 3]
    assert sink.attempts == 4
    queue.close()


def test_a_full_queue_refuses_instead_of_growing() -> None:
    sink = Sink()
    sink.gate.clear()  # the database "hangs"
    queue = WriteBehind(sink, max_batch=2, max_pending=4)
    assert queue.put([1, 2])  # taken by the writer, which now waits
    assert queue.put([3, 4])
    assert not queue.put([5], timeout=0.05)
    assert queue.pending == 4
    sink.gate.set()
    assert queue.flush(timeout=5)
    assert queue.put([5])
    assert queue.flush(timeout=5)
    assert sink.written == [1, 2, 3, 4, 5]
    queue.close()


def test_flush_reports_a_timeout_while_the_database_is_down() -> None:
    sink = Sink(failures=1_000_000)
    queue = WriteBehind(sink, retry_seconds=(0.001, 0.002))
    assert queue.put([1])
    assert not queue.flush(timeout=0.05)
    assert queue.close(timeout=0.05) == 1  # reported, not silently dropped
    assert not queue.put([2])  # closed


def test_close_drains_what_waits() -> None:
    sink = Sink()
    queue = WriteBehind(sink)
    for i in range(50):
        queue.put([i])
    assert queue.close() == 0
    assert sink.written == list(range(50))


def test_flush_returns_as_soon_as_a_closed_writer_gives_up() -> None:
    sink = Sink(failures=1_000_000)
    queue = WriteBehind(sink, retry_seconds=(0.001, 0.002))
    assert queue.put([1])
    queue.close(timeout=0.01)
    assert not queue.flush()  # no timeout: it must not wait forever for a writer that has stopped


class Batches(Sink):
    """A sink that also keeps each batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    def __call__(self, batch: Sequence[int]) -> None:
        self.batches.append(list(batch))
        super().__call__(batch)


def test_a_lingering_writer_gathers_several_puts_into_one_batch() -> None:
    sink = Batches()
    queue = WriteBehind(sink, linger=60.0)  # longer than the test: only the full batch or the flush ends it
    for i in range(5):
        assert queue.put([i])
    assert queue.flush(timeout=5)  # a flush does not wait for the linger to run out
    assert sink.batches == [[0, 1, 2, 3, 4]]
    assert queue.close() == 0


def test_a_lingering_writer_writes_a_full_batch_at_once() -> None:
    sink = Batches()
    queue = WriteBehind(sink, max_batch=3, linger=60.0)
    assert queue.put([1, 2, 3, 4])
    deadline = time.monotonic() + 5  # no flush: the full batch alone must end the linger
    while not sink.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.batches == [[1, 2, 3]]
    assert queue.close() == 0
    assert sink.written == [1, 2, 3, 4]


def test_close_does_not_wait_for_the_linger() -> None:
    sink = Sink()
    queue = WriteBehind(sink, linger=60.0)
    assert queue.put([1, 2])
    assert queue.close(timeout=5) == 0
    assert sink.written == [1, 2]
