"""Rules the declared spec cannot express: which post shape each option applies to.

- ``share_to_feed`` and ``thumb_offset_ms`` are Reel parameters (reference §2.2): only a post of
  exactly one video publishes as a Reel; ``thumb_offset_ms`` must fall inside the video.
- ``alt_text`` is an image-container parameter; this plugin sends it for a single-image post.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.types import MediaKind, Post, Violation

REEL_OPTIONS = ("share_to_feed", "thumb_offset_ms")


def _shape(post: Post) -> str:
    if len(post.media) != 1:
        return "carousel" if post.media else "empty"
    return "reel" if post.media[0].kind == MediaKind.VIDEO else "image"


def violations(post: Post) -> list[Violation]:
    """The option violations of ``post`` (empty when it is fine)."""
    return [*_reel_options(post), *_alt_text(post)]


def _reel_options(post: Post) -> Iterator[Violation]:
    shape = _shape(post)
    for name in REEL_OPTIONS:
        if name in post.options and shape != "reel":
            yield Violation(f"options.{name}", "reel_only_option",
                            f"instagram option {name} applies to a Reel (a post of one video); this post is a {shape}",
                            "reel", shape)
    offset = post.options.get("thumb_offset_ms")
    duration = post.media[0].duration_s if shape == "reel" else None
    if isinstance(offset, int) and duration is not None and offset > duration * 1000:
        yield Violation("options.thumb_offset_ms", "thumb_offset_ms",
                        f"instagram thumb_offset_ms must be within the video ({duration * 1000:.0f} ms); got {offset}",
                        round(duration * 1000), offset, media_id=post.media[0].id)


def _alt_text(post: Post) -> Iterator[Violation]:
    shape = _shape(post)
    if "alt_text" in post.options and shape != "image":
        yield Violation("options.alt_text", "single_image_option",
                        f"instagram option alt_text applies to a post of one image; this post is a {shape}",
                        "image", shape)
