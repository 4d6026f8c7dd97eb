"""TikTok's chunk rules as pure functions (media transfer guide)."""

import pytest
from channels_tiktok.chunking import (
    MAX_CHUNK,
    MAX_CHUNKS,
    MIN_CHUNK,
    ChunkPlan,
    ChunkPlanError,
    check_plan,
    clamp_chunk_size,
    plan_chunks,
)

MB = 1_000_000


def test_docs_worked_example() -> None:
    plan = plan_chunks(50_000_123, 10 * MB)
    assert plan.as_dict() == {"video_size": 50_000_123, "chunk_size": 10_000_000, "total_chunk_count": 5}
    assert list(plan.ranges()) == [(0, 9_999_999), (10_000_000, 19_999_999), (20_000_000, 29_999_999),
                                   (30_000_000, 39_999_999), (40_000_000, 50_000_122)]


def test_small_video_goes_whole() -> None:
    plan = plan_chunks(1_234_567, 10 * MB)
    assert (plan.chunk_size, plan.total_chunk_count) == (1_234_567, 1)
    assert list(plan.ranges()) == [(0, 1_234_566)]


def test_final_chunk_absorbs_remainder() -> None:
    plan = plan_chunks(29 * MB, 10 * MB)
    assert plan.total_chunk_count == 2
    assert list(plan.ranges())[-1] == (10 * MB, 29 * MB - 1)


def test_preferred_chunk_is_clamped() -> None:
    assert clamp_chunk_size(1) == MIN_CHUNK
    assert clamp_chunk_size(10**9) == MAX_CHUNK
    plan = plan_chunks(20 * MB, 1)
    assert plan.chunk_size == MIN_CHUNK and plan.total_chunk_count == 20 * MB // MIN_CHUNK


def test_large_video_is_chunked_within_1000() -> None:
    size = 4 * 1024**3
    plan = plan_chunks(size, MIN_CHUNK)
    assert plan.total_chunk_count <= MAX_CHUNKS
    check_plan(plan)
    assert sum(last - first + 1 for first, last in plan.ranges()) == size


def test_over_64mb_never_whole() -> None:
    plan = plan_chunks(100 * MB, 10**9)
    assert plan.chunk_size == MAX_CHUNK and plan.total_chunk_count == 1
    assert list(plan.ranges()) == [(0, 100 * MB - 1)]


@pytest.mark.parametrize(("plan", "fragment"), [
    (ChunkPlan(50 * MB, 10 * MB, 4), "floor"),
    (ChunkPlan(50 * MB, 4 * MB, 12), "chunk_size"),
    (ChunkPlan(200 * MB, 64 * MB, 2), "floor"),
    (ChunkPlan(10 * MB, 1 * MB, 10), "chunk_size"),
    (ChunkPlan(100 * MB, 100 * MB, 1), "chunk_size"),
])
def test_check_plan_rejects(plan: ChunkPlan, fragment: str) -> None:
    with pytest.raises(ChunkPlanError, match=fragment):
        check_plan(plan)


def test_rejects_empty_and_huge() -> None:
    with pytest.raises(ChunkPlanError):
        plan_chunks(0)
    with pytest.raises(ChunkPlanError):
        plan_chunks(200 * 1024**3)
