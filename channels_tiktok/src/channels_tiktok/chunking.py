"""TikTok's FILE_UPLOAD chunking rules (media transfer guide), as pure functions.

Rules [DOC media-transfer-guide, platforms.md §4.4]:

- ``total_chunk_count = floor(video_size / chunk_size)``; the final chunk
  absorbs the trailing bytes and may exceed ``chunk_size`` (up to 128 MB);
- every other chunk is at least 5 MB and at most 64 MB;
- a video under 5 MB goes whole (``chunk_size == video_size``, one chunk);
  a video over 64 MB must be chunked;
- 1 to 1000 chunks, uploaded sequentially.

TikTok does not say whether "MB" is 10^6 or 2^20 bytes, so the plan keeps
inside both readings: chunks of at least 5 MiB and at most 64,000,000 bytes,
a final chunk of at most 128,000,000 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MIN_CHUNK = 5 * 1024 * 1024
MAX_CHUNK = 64_000_000
MAX_FINAL_CHUNK = 128_000_000
MAX_CHUNKS = 1000


class ChunkPlanError(ValueError):
    """The video cannot be split under TikTok's rules (too large)."""


@dataclass(frozen=True)
class ChunkPlan:
    """The ``source_info`` numbers of an init call, and the byte ranges they imply."""

    video_size: int
    chunk_size: int
    total_chunk_count: int

    def ranges(self) -> Iterator[tuple[int, int]]:
        """Inclusive ``(first_byte, last_byte)`` of each chunk, in upload order."""
        for index in range(self.total_chunk_count):
            first = index * self.chunk_size
            last = self.video_size - 1 if index == self.total_chunk_count - 1 else first + self.chunk_size - 1
            yield first, last

    def as_dict(self) -> dict[str, int]:
        return {"video_size": self.video_size, "chunk_size": self.chunk_size,
                "total_chunk_count": self.total_chunk_count}


def clamp_chunk_size(preferred: int) -> int:
    """``preferred`` forced into the allowed chunk size bounds."""
    return min(max(preferred, MIN_CHUNK), MAX_CHUNK)


def plan_chunks(video_size: int, preferred_chunk: int = 10_000_000) -> ChunkPlan:
    """Split ``video_size`` bytes into chunks TikTok accepts.

    A video no larger than the (clamped) preferred chunk goes whole; a larger
    one is cut into ``floor(size / chunk)`` chunks, the chunk size being
    raised when 1000 chunks would not suffice.

    :raises ChunkPlanError: when the size cannot be expressed at all.
    """
    if video_size <= 0:
        raise ChunkPlanError(f"video size must be positive; got {video_size}")
    chunk = clamp_chunk_size(preferred_chunk)
    if video_size <= chunk:
        return ChunkPlan(video_size, video_size, 1)
    chunk = max(chunk, -(-video_size // MAX_CHUNKS))
    count = video_size // chunk
    plan = ChunkPlan(video_size, chunk, count)
    check_plan(plan)
    return plan


def check_plan(plan: ChunkPlan) -> None:
    """Raise :class:`ChunkPlanError` unless ``plan`` follows every rule above."""
    size, chunk, count = plan.video_size, plan.chunk_size, plan.total_chunk_count
    if count == 1 and chunk == size and size <= MAX_CHUNK:
        return
    final = size - (count - 1) * chunk
    problems = [
        (count != size // chunk, f"total_chunk_count must be floor({size}/{chunk}) = {size // chunk}; got {count}"),
        (not MIN_CHUNK <= chunk <= MAX_CHUNK, f"chunk_size must be {MIN_CHUNK}..{MAX_CHUNK} bytes; got {chunk}"),
        (not 1 <= count <= MAX_CHUNKS, f"chunk count must be 1..{MAX_CHUNKS}; got {count}"),
        (final > MAX_FINAL_CHUNK, f"final chunk must be at most {MAX_FINAL_CHUNK} bytes; got {final}"),
    ]
    for failed, message in problems:
        if failed:
            raise ChunkPlanError(message)
