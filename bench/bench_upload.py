"""Peak memory of the API process while it receives a large upload.

Starts the app behind a real HTTP server in a child process (SQLite and a
media directory in a temporary folder), streams a valid MP4 padded to the
requested size as a chunked multipart body, and prints the file size beside
the server's resident memory before and at its peak (Linux ``VmHWM``).

    .venv/bin/python bench/bench_upload.py [--mb 300]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media_samples import mp4  # noqa: E402

SERVER = r"""
import json, sys
from werkzeug.serving import make_server
from core import create_app
from core.db import session_scope
from core.migrate import upgrade
from core.services import api_keys, catalog

folder = sys.argv[1]
url = f"sqlite:///{folder}/bench.db"
upgrade(url)
app = create_app({"MARKAESTRO_DATABASE_URL": url, "MARKAESTRO_MEDIA_DIR": f"{folder}/media",
                  "MARKAESTRO_RATE_LIMIT": "off", "MARKAESTRO_LOAD_PLUGINS": False,
                  "MARKAESTRO_MAX_UPLOAD_BYTES": 2 * 1024**3, "MARKAESTRO_SECRET_KEY": "%s"})
with session_scope(app.extensions["markaestro.sessions"]) as session:
    workspace = catalog.create_workspace(session, "bench")
    key = api_keys.create_key(session, workspace.id, "bench").key
server = make_server("127.0.0.1", 0, app, threaded=True)
print(json.dumps({"port": server.server_port, "key": key}), flush=True)
server.serve_forever()
"""
SECRET = "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE="
BOUNDARY = "benchboundary"
CHUNK = 1024 * 1024


def rss_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of ``pid`` in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def body(total_bytes: int) -> Iterator[bytes]:
    """A multipart body whose file is a valid MP4 followed by a ``free`` box up to ``total_bytes``."""
    video = mp4()
    padding = total_bytes - len(video)
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
           "Content-Type: video/mp4\r\n\r\n").encode() + video + struct.pack(">I4s", padding, b"free")
    remaining, zeros = padding - 8, bytes(CHUNK)
    while remaining > 0:
        yield zeros[:min(CHUNK, remaining)]
        remaining -= CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="file size in MiB")
    size = parser.parse_args().mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen([sys.executable, "-c", SERVER % SECRET, folder], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            before = rss_kib(server.pid)
            started = time.perf_counter()
            response = requests.post(
                f"http://127.0.0.1:{info['port']}/api/public/v1/media", data=body(size), timeout=600,
                headers={"Authorization": f"Bearer {info['key']}",
                         "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            elapsed = time.perf_counter() - started
            after = rss_kib(server.pid)
        finally:
            server.terminate()
            server.wait()
    result = response.json()
    print(f"status {response.status_code}  file {size / 2**20:.0f} MiB  stored {result.get('sizeBytes')} bytes  "
          f"in {elapsed:.1f} s ({size / 2**20 / elapsed:.0f} MiB/s)")
    print(f"server RSS before {before['VmRSS'] / 1024:.1f} MiB  peak {after['VmHWM'] / 1024:.1f} MiB  "
          f"growth {(after['VmHWM'] - before['VmRSS']) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
