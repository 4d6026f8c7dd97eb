"""Idempotency-Key on every POST (spec §1.3; reliability §1 S1–S8, I1–I7, B2/B3).

Test-only routes registered on the app let each behaviour be observed
directly: ``calls`` counts how often a view really ran.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, abort, jsonify, request

from core.db import session_scope
from core.errors import ValidationFailed
from core.idempotency import DEFAULT_LOCK_TIMEOUT_SECONDS, purge_expired
from core.models import IdempotencyRecord
from core.timeutil import utcnow
from tests.conftest import count_rows
from tests.media_samples import jpeg

BASE = "/api/public/v1/_test"
MEDIA = "/api/public/v1/media"


class Probe:
    """Counts view calls; lets a view block until released."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.entered = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def probe(app: Flask) -> Probe:
    probe = Probe()

    def echo() -> Any:
        probe.calls["echo"] += 1
        body = {"call": probe.calls["echo"], "got": request.get_json(silent=True)}
        return jsonify(body), 201, {"Location": f"{BASE}/things/{probe.calls['echo']}"}

    def slow() -> Any:
        probe.calls["slow"] += 1
        probe.entered.set()
        assert probe.release.wait(30)
        return jsonify({"call": probe.calls["slow"]}), 201

    def boom() -> Any:
        probe.calls["boom"] += 1
        raise RuntimeError("boom at /srv/secret/path.py")

    def reject() -> Any:
        probe.calls["reject"] += 1
        raise ValidationFailed("caption: too long", errors={"caption": ["too long"]})

    def upload() -> Any:
        probe.calls["upload"] += 1
        part = request.files["file"]
        return jsonify({"call": probe.calls["upload"], "sha256": hashlib.sha256(part.read()).hexdigest(),
                        "filename": part.filename}), 201

    for name, view in {"echo": echo, "slow": slow, "boom": boom, "reject": reject, "upload": upload}.items():
        app.add_url_rule(f"{BASE}/{name}", f"test_{name}", view, methods=["POST"])
    app.add_url_rule(f"{BASE}/echo", "test_echo_get", lambda: jsonify({}), methods=["GET"])
    return probe


def post(client: Any, tenant: Any, route: str, key: str | None = "k1", **kwargs: Any) -> Any:
    headers = dict(tenant.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    headers.update(kwargs.pop("headers", {}))
    url = route if route.startswith("/") else f"{BASE}/{route}"
    return client.post(url, headers=headers, **kwargs)


def records(sessions: Any) -> list[IdempotencyRecord]:
    with session_scope(sessions) as session:
        return list(session.scalars(sa.select(IdempotencyRecord)))


# --- replay and mismatch -------------------------------------------------------------------------


def test_same_key_and_body_replays_the_stored_response_byte_for_byte(client, tenant, probe):
    first = post(client, tenant, "echo", json={"caption": "hi"})
    again = post(client, tenant, "echo", json={"caption": "hi"})
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert probe.calls["echo"] == 1


def test_json_whitespace_and_key_order_do_not_change_the_fingerprint(client, tenant, probe):
    post(client, tenant, "echo", data='{"a": 1, "b": [1, 2]}', content_type="application/json")
    again = post(client, tenant, "echo", data='{"b":[1,2],\n "a":1}', content_type="application/json")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert probe.calls["echo"] == 1


def test_same_key_with_another_body_is_422_and_the_original_still_replays(client, tenant, probe):
    original = post(client, tenant, "echo", json={"caption": "A"})
    reused = post(client, tenant, "echo", json={"caption": "B"})
    assert reused.status_code == 422
    assert reused.content_type == "application/problem+json"
    assert reused.get_json()["code"] == "idempotency_key_reused"
    assert post(client, tenant, "echo", json={"caption": "A"}).get_data() == original.get_data()
    assert probe.calls["echo"] == 1


def test_same_key_on_another_path_is_422(client, tenant, probe):
    post(client, tenant, "echo", json={})
    other = post(client, tenant, "upload", data={})
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert probe.calls["upload"] == 0


def test_requests_without_the_header_are_processed_each_time(client, tenant, probe, sessions):
    post(client, tenant, "echo", key=None, json={})
    post(client, tenant, "echo", key=None, json={})
    assert probe.calls["echo"] == 2
    assert records(sessions) == []


def test_get_ignores_the_header_and_stores_nothing(client, tenant, probe, sessions):
    response = client.get(f"{BASE}/echo", headers={**tenant.headers, "Idempotency-Key": ""})
    assert response.status_code == 200
    assert records(sessions) == []


def test_keys_are_scoped_to_the_workspace(client, tenant, other_tenant, probe, sessions):
    mine = post(client, tenant, "echo", key="same", json={"who": "A"})
    theirs = post(client, other_tenant, "echo", key="same", json={"who": "B"})
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["got"] == {"who": "B"}
    assert probe.calls["echo"] == 2 and len(records(sessions)) == 2


def test_client_errors_are_stored_and_replayed(client, tenant, probe):
    first = post(client, tenant, "reject", json={"caption": "x" * 5000})
    again = post(client, tenant, "reject", json={"caption": "x" * 5000})
    assert first.status_code == again.status_code == 422
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert probe.calls["reject"] == 1


def test_server_errors_are_not_stored_so_the_key_can_be_retried(client, tenant, probe, sessions):
    first = post(client, tenant, "boom", json={})
    assert first.status_code == 500
    assert records(sessions) == []
    assert post(client, tenant, "boom", json={}).status_code == 500
    assert probe.calls["boom"] == 2


# --- key syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "bell\x07", "caf\xe9", '"unterminated', '"a"b"',
                                 '"bad\\escape"', '""'])
def test_malformed_keys_are_400_before_any_lookup(client, tenant, probe, sessions, key):
    response = post(client, tenant, "echo", key=key, json={})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "idempotency_key_invalid"
    assert probe.calls["echo"] == 0 and records(sessions) == []


def test_two_header_fields_are_400(client, tenant, probe):
    response = client.post(f"{BASE}/echo", json={}, headers=[
        ("Authorization", tenant.headers["Authorization"]), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert response.status_code == 400
    assert response.get_json()["code"] == "idempotency_key_invalid"
    assert probe.calls["echo"] == 0


def test_a_255_character_key_is_accepted(client, tenant, probe, sessions):
    assert post(client, tenant, "echo", key="k" * 255, json={}).status_code == 201
    assert [r.key for r in records(sessions)] == ["k" * 255]


def test_a_comma_needs_the_quoted_form(client, tenant, probe):
    assert post(client, tenant, "echo", key="a,b", json={}).status_code == 400
    assert post(client, tenant, "echo", key='"a,b"', json={}).status_code == 201


def test_quoted_and_bare_forms_are_the_same_key(client, tenant, probe):
    post(client, tenant, "echo", key='"abc\\"1"', json={})
    again = post(client, tenant, "echo", key='abc"1', json={})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert probe.calls["echo"] == 1


# --- concurrency and locks -----------------------------------------------------------------------


def _send_in_thread(app: Flask, tenant: Any, results: queue.Queue[Any], barrier: threading.Barrier) -> None:
    with app.test_client() as own_client:
        barrier.wait(10)
        results.put(post(own_client, tenant, "slow", json={"same": True}))


def test_concurrent_requests_with_one_key_run_the_view_once(app, client, tenant, probe, sessions):
    results: queue.Queue[Any] = queue.Queue()
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_send_in_thread, args=(app, tenant, results, barrier)) for _ in range(2)]
    for thread in threads:
        thread.start()
    loser = results.get(timeout=30)  # the winner is blocked in the view until released
    assert loser.status_code == 409
    assert loser.content_type == "application/problem+json"
    assert loser.get_json()["code"] == "idempotency_key_in_use"
    assert loser.headers["Retry-After"] == "1"
    probe.release.set()
    winner = results.get(timeout=30)
    for thread in threads:
        thread.join(30)
    assert winner.status_code == 201
    assert probe.calls["slow"] == 1
    retry = post(client, tenant, "slow", json={"same": True})
    assert retry.get_data() == winner.get_data() and retry.headers["Idempotent-Replayed"] == "true"


def _lock_row(sessions: Any, tenant: Any, age: timedelta) -> None:
    with session_scope(sessions) as session:
        session.add(IdempotencyRecord(workspace_id=tenant.workspace_id, key="k1", method="POST",
                                      path=f"{BASE}/echo", fingerprint=None, locked_at=utcnow() - age))


def test_a_fresh_in_flight_lock_is_409(client, tenant, probe, sessions):
    _lock_row(sessions, tenant, timedelta(seconds=1))
    response = post(client, tenant, "echo", json={})
    assert response.status_code == 409 and response.get_json()["code"] == "idempotency_key_in_use"
    assert probe.calls["echo"] == 0


def test_a_stale_lock_of_a_dead_process_is_taken_over(client, tenant, probe, sessions):
    _lock_row(sessions, tenant, timedelta(seconds=DEFAULT_LOCK_TIMEOUT_SECONDS + 1))
    assert post(client, tenant, "echo", json={}).status_code == 201
    assert probe.calls["echo"] == 1
    [record] = records(sessions)
    assert record.response_status == 201 and record.locked_at is None


# --- retention -----------------------------------------------------------------------------------


def _age_records(sessions: Any, age: timedelta) -> None:
    with session_scope(sessions) as session:
        session.execute(sa.update(IdempotencyRecord).values(created_at=utcnow() - age))


def test_records_are_kept_24_hours(client, tenant, probe, sessions):
    post(client, tenant, "echo", json={})
    _age_records(sessions, timedelta(hours=23, minutes=59))
    with session_scope(sessions) as session:
        assert purge_expired(session) == 0
    assert post(client, tenant, "echo", json={}).headers.get("Idempotent-Replayed") == "true"


def test_a_purged_key_starts_a_new_request(client, tenant, probe, sessions):
    post(client, tenant, "echo", json={})
    _age_records(sessions, timedelta(hours=24, seconds=1))
    with session_scope(sessions) as session:
        assert purge_expired(session) == 1
    again = post(client, tenant, "echo", json={})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert probe.calls["echo"] == 2


# --- multipart fingerprints ----------------------------------------------------------------------


def multipart(boundary: str, content: bytes, filename: str = "a.jpg", extra: str | None = None) -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             f"Content-Type: image/jpeg\r\n\r\n".encode() + content + b"\r\n"]
    if extra is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n{extra}\r\n'.encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def send_multipart(client: Any, tenant: Any, route: str, boundary: str, body: bytes) -> Any:
    return post(client, tenant, route, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_multipart_retry_with_a_new_boundary_replays(client, tenant, probe):
    content = b"\xff\xd8" + bytes(range(256)) * 4000  # ~1 MB, spooled by the form parser
    first = send_multipart(client, tenant, "upload", "AAAA1111", multipart("AAAA1111", content))
    again = send_multipart(client, tenant, "upload", "zz-other-zz", multipart("zz-other-zz", content))
    assert first.status_code == 201
    assert first.get_json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert again.get_data() == first.get_data() and again.headers["Idempotent-Replayed"] == "true"
    assert probe.calls["upload"] == 1


@pytest.mark.parametrize("changed", [
    {"content": b"\xff\xd8other"}, {"filename": "b.jpg"}, {"extra": "a note"},
])
def test_multipart_with_another_file_name_or_field_is_422(client, tenant, probe, changed):
    original = {"content": b"\xff\xd8same", "filename": "a.jpg", "extra": None}
    send_multipart(client, tenant, "upload", "b1", multipart("b1", **original))  # type: ignore[arg-type]
    response = send_multipart(client, tenant, "upload", "b2", multipart("b2", **{**original, **changed}))
    assert response.status_code == 422 and response.get_json()["code"] == "idempotency_key_reused"
    assert probe.calls["upload"] == 1


def test_media_upload_is_replayed_without_a_second_asset(client, tenant, sessions):
    from core.models import MediaAsset

    content = jpeg()
    first = send_multipart(client, tenant, MEDIA, "m1", multipart("m1", content))
    again = send_multipart(client, tenant, MEDIA, "m2-different", multipart("m2-different", content))
    assert first.status_code == 201, first.get_json()
    assert again.get_data() == first.get_data() and again.headers["Idempotent-Replayed"] == "true"
    assert count_rows(sessions, MediaAsset) == 1


def test_media_upload_with_another_file_is_422(client, tenant, sessions):
    from core.models import MediaAsset

    send_multipart(client, tenant, MEDIA, "m1", multipart("m1", jpeg()))
    other = send_multipart(client, tenant, MEDIA, "m2", multipart("m2", jpeg((10, 10))))
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert count_rows(sessions, MediaAsset) == 1


def test_unknown_routes_and_methods_never_claim_keys(client, tenant, sessions):
    assert client.post("/api/public/v1/nowhere", headers={**tenant.headers, "Idempotency-Key": "k"}).status_code == 404
    assert records(sessions) == []


def test_abort_in_a_view_is_still_problem_json(app, client, tenant, sessions):
    app.add_url_rule(f"{BASE}/gone", "test_gone", lambda: abort(410), methods=["POST"])
    response = post(client, tenant, "gone", json={})
    assert response.status_code == 410 and response.content_type == "application/problem+json"
