"""The ``markaestro`` admin command line (being built)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("markaestro: the admin CLI is being built")
