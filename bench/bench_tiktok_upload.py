"""Peak RSS of a worker uploading a large video to the TikTok sandbox.

Usage: ``python bench/bench_tiktok_upload.py [SIZE_MB]`` (default 300).

The sandbox runs in a child process, so the numbers are the uploading
process's own. A sparse temporary file of SIZE_MB is published through the
plugin's hooks (init, chunked upload, status poll). Peak RSS is printed
before and after beside the file size: with streaming, the growth stays far
below the file size (about one read block, not one chunk or the file).
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

from channels_tiktok.sandbox import SandboxConfig, create_app
from werkzeug.serving import make_server

import channels_tiktok
from plugins.manager import Channels, create_plugin_manager
from plugins.testing import LocalPacer
from plugins.types import Credentials, Destination, MediaItem, MediaKind, Post


def _serve(port: int) -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_server("127.0.0.1", port, create_app(SandboxConfig(processing_delay_s=0.0))).serve_forever()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _publish(url: str, path: Path, size: int) -> None:
    channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_tiktok]),
                        settings={"tiktok": {"api_url": url, "timeout_s": "60"}})
    video = MediaItem(id="bench", kind=MediaKind.VIDEO, mime_type="video/mp4", size_bytes=size, url="",
                      opener=lambda: path.open("rb"))
    kwargs = {"destination": Destination("tiktok", "tiktok", "bench"), "post": Post(id="bench", caption="",
              media=(video,)), "credentials": Credentials("act.bench"), "pacer": LocalPacer()}
    init = channels.publish_step("tiktok", handle={}, **kwargs)
    upload = channels.publish_step("tiktok", handle=init.handle, **kwargs)
    final = channels.poll_publish("tiktok", handle=upload.handle, **kwargs)
    print(f"chunks: {init.handle['total_chunk_count']} x {init.handle['chunk_size']} bytes; result {final.state}")


def main() -> None:
    size = int(float(sys.argv[1] if len(sys.argv) > 1 else 300) * 1024 * 1024)
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    time.sleep(0.5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.mp4"
        with path.open("wb") as handle:
            handle.truncate(size)
        before = _peak_rss_mib()
        started = time.monotonic()
        _publish(f"http://127.0.0.1:{port}", path, size)
        after = _peak_rss_mib()
    server.terminate()
    print(f"file size: {size / 2**20:.0f} MiB; peak RSS before: {before:.1f} MiB, after: {after:.1f} MiB "
          f"(growth {after - before:.1f} MiB) in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
