"""Summarise py-spy collapsed stacks (``--format raw``) written by ``BENCH_PROFILE`` runs.

Prints, for every file given, the share of samples spent *inside* each
frame (cumulative, counted once per stack) for the top frames, and the
share spent in the frame itself (self time).

    .venv/bin/python bench/profile_summary.py /tmp/profile/*.txt [--top 40] [--match core/]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frames(stack: str) -> list[str]:
    """``function (file)`` per frame, line numbers dropped, outermost first."""
    out = []
    for raw in stack.split(";"):
        match = _FRAME.match(raw.strip())
        name = f"{match['name']} ({_short(match['file'])})" if match else raw.strip()
        out.append(name)
    return out


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(lines: list[str], within: str = "") -> tuple[int, Counter[str], Counter[str]]:
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit() or within not in stack:
            continue
        count = int(count_text)
        names = frames(stack)
        total += count
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    return total, inclusive, own


def _categories(lines: list[str], within: str, specs: list[str], total: int) -> None:
    pairs = [tuple(spec.split("=", 1)) for spec in specs]
    shares: Counter[str] = Counter()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit() or within not in stack:
            continue
        name = next((n for n, text in pairs if text in stack), "other")
        shares[name] += int(count_text)
    print("categories (first match wins):")
    for name, count in shares.most_common():
        print(f"  {100 * count / max(total, 1):5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    parser.add_argument("--within", default="", help="only stacks containing this (percentages of those)")
    parser.add_argument("--category", action="append", default=[],
                        help="NAME=TEXT: share of stacks containing TEXT (first match wins, in order)")
    args = parser.parse_args()
    lines = [line for f in args.files for line in Path(f).read_text().splitlines()]
    total, inclusive, own = summarise(lines, args.within)
    print(f"{total} samples")
    if args.category:
        _categories(lines, args.within, args.category, total)
    print("cumulative:")
    for name, count in [(n, c) for n, c in inclusive.most_common() if args.match in n][:args.top]:
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("self:")
    for name, count in own.most_common(args.top // 2):
        print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
