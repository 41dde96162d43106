"""Pass 0: the export's NDJSON files cut into byte ranges, so that one large file is read by many workers."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from service.population.storage import filesystem

DEFAULT_PARTITION_BYTES = 32 * 1024 * 1024
SMALLEST_SPREAD_BYTES = 1024 * 1024  # the smallest partition made only to spread a small export over workers
READ_BLOCK_BYTES = 128 * 1024  # reused memory: a larger block costs fresh pages every read (4 MiB: +35-75 % CPU)


class ExportError(Exception):
    """The export cannot be screened at all (missing, empty, or a part of it unreadable): a one-line message."""


@dataclass(frozen=True, slots=True)
class Partition:
    """Lines of `url` that start in bytes [start, end)."""

    index: int
    url: str
    name: str  # the file's name, for messages
    start: int
    end: int


def plan_partitions(
    export: str, partition_bytes: int = DEFAULT_PARTITION_BYTES, min_partitions: int = 1
) -> list[Partition]:
    """Byte ranges of at most `partition_bytes`; smaller (not under SMALLEST_SPREAD_BYTES) when the export would
    make fewer than `min_partitions`: a 90 MB export in 32 MB parts (its Observation file read as 32 + 32 + 19
    MB) left one of two workers idle for about a sixth of pass 1."""
    fs, inner = filesystem(export)
    if not fs.isdir(inner):
        raise ExportError(f"{export}: no such folder")
    files = sorted(
        (entry["name"], int(entry["size"] or 0))
        for entry in fs.ls(inner, detail=True)
        if entry["type"] == "file" and entry["name"].endswith(".ndjson")
    )
    if not files:
        raise ExportError(f"{export}: no *.ndjson files in this folder (an empty export?)")
    partitions: list[Partition] = []
    spread = max(SMALLEST_SPREAD_BYTES, -(-sum(size for _, size in files) // max(1, min_partitions)))
    step = max(1, min(partition_bytes, spread))
    for name, size in files:
        url = fs.unstrip_protocol(name)
        for start in range(0, max(size, 1), step):
            partitions.append(Partition(len(partitions), url, posixpath.basename(name), start, min(size, start + step)))
    return partitions


def read_blocks(partition: Partition) -> Iterator[tuple[bytes, int]]:
    """(block, end): the lines that start inside the partition are `block[:end].split(b"\\n")` of each block (the
    last may end past the partition; a line cut by `start` belongs to the partition before).

    Read in blocks, each from where the last whole line of the one before ended: a line cut by a block's end is
    read again with the next block rather than the block's bytes copied to join it (that copy and its fresh
    pages cost a third of reading a Synthea export), and `end` bounds the lines instead of a slice copying them
    (pass 1 takes runs of lines whole out of the block).
    """
    fs, inner = filesystem(partition.url)
    with fs.open(inner, "rb") as source:
        position = partition.start
        if position > 0:
            source.seek(position - 1)
            position += len(source.readline()) - 1
        while position < partition.end:
            source.seek(position)
            block = source.read(READ_BLOCK_BYTES)
            if not block:
                return
            cut = block.rfind(b"\n")
            if cut < 0:  # the file's last line without its newline, or a line longer than a block
                block += source.readline()
                cut = len(block) - 1 if block.endswith(b"\n") else len(block)
            end = cut  # what follows the last whole line is read again with the next block
            if position + cut >= partition.end:  # keep the lines that start inside: up to the first past it
                stop = block.find(b"\n", partition.end - position - 1, cut)
                if stop >= 0:
                    end = stop
            yield block, end
            position += cut + 1
