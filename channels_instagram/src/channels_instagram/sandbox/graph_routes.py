"""The emulated Graph endpoints (both hosts: graph.instagram.com and graph.facebook.com).

Paths may carry any ``vNN.N`` prefix or none (reference §1.1). Parameters are
merged from the query string, a form body and a JSON body; the token comes
from ``access_token`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .model import Container, GraphFault, Media
from .state import SandboxState, no_object

Handler = Callable[[SandboxState, str, dict[str, str]], dict[str, Any]]


def _fields(params: dict[str, str], default: str) -> list[str]:
    return [f.strip() for f in (params.get("fields") or default).split(",") if f.strip()]


def _pick(values: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    return {"id": values["id"], **{k: values[k] for k in wanted if k in values and values[k] is not None}}


def iso(stamp: float) -> str:
    """Instagram's timestamp format: ``2026-04-08T18:06:10+0000``."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def media_values(media: Media) -> dict[str, Any]:
    return {"id": media.id, "caption": media.caption, "media_type": media.media_type,
            "media_product_type": media.product_type, "timestamp": iso(media.timestamp),
            "permalink": media.permalink, "owner": {"id": media.owner}}


def container_values(state: SandboxState, container: Container) -> dict[str, Any]:
    status_code = state.status_code(container)
    status = container.error if status_code == "ERROR" else None
    if status_code == "EXPIRED":
        status = "Error: The media container has expired"
    return {"id": container.id, "status_code": status_code, "status": status}


def get_object(state: SandboxState, object_id: str, params: dict[str, str]) -> dict[str, Any]:
    """``GET /{id}``: a container, a media object or an account."""
    if object_id in state.containers:
        return _pick(container_values(state, state.containers[object_id]), _fields(params, "status_code"))
    if object_id in state.media:
        return _pick(media_values(state.media[object_id]), _fields(params, "id"))
    if object_id in state.accounts:
        account = state.accounts[object_id]
        return _pick({"id": account.id, "username": account.username, "name": account.name},
                     _fields(params, "username"))
    raise no_object(object_id)


def create_media(state: SandboxState, owner: str, params: dict[str, str]) -> dict[str, Any]:
    state.account(owner)
    return {"id": state.create_container(owner, params).id}


def media_publish(state: SandboxState, owner: str, params: dict[str, str]) -> dict[str, Any]:
    return {"id": state.publish(owner, params.get("creation_id")).id}


def user_media(state: SandboxState, owner: str, params: dict[str, str]) -> dict[str, Any]:
    """``GET /{ig-user-id}/media``: published media, newest first."""
    limit = int(params.get("limit") or 25)
    mine = sorted((m for m in state.media.values() if m.owner == owner), key=lambda m: m.timestamp, reverse=True)
    wanted = _fields(params, "id")
    return {"data": [_pick(media_values(m), wanted) for m in mine[:limit]], "paging": {}}


def publishing_limit(state: SandboxState, owner: str, params: dict[str, str]) -> dict[str, Any]:
    """``GET /{ig-user-id}/content_publishing_limit`` (reference §2.7)."""
    entry: dict[str, Any] = {"quota_usage": state.quota_usage(owner)}
    if "config" in _fields(params, "quota_usage"):
        entry["config"] = {"quota_total": state.config.quota_total,
                           "quota_duration": state.config.quota_duration_s}
    return {"data": [entry]}


EDGES: dict[tuple[str, str], Handler] = {
    ("POST", "media"): create_media,
    ("GET", "media"): user_media,
    ("POST", "media_publish"): media_publish,
    ("GET", "content_publishing_limit"): publishing_limit,
}


def endpoint_name(method: str, route: str, state: SandboxState) -> str:
    """A stable name for a request, used by the request log and fault matching."""
    parts = route.split("/") if route else [""]
    if parts[0] in {"oauth", "me", "access_token", "refresh_access_token"} or len(parts) > 2:
        return f"{method} {route}"
    if len(parts) == 2:
        return f"{method} {'user_media' if (method, parts[1]) == ('GET', 'media') else parts[1]}"
    if parts[0] in state.containers:
        return f"{method} container"
    return f"{method} {'media_object' if parts[0] in state.media else 'object'}"


def graph_call(state: SandboxState, method: str, route: str, params: dict[str, str]) -> dict[str, Any]:
    """Answer one authenticated Graph call (``route`` has no version prefix)."""
    token = state.authenticate(params.pop("access_token", None))
    if route in {"me", "me/accounts"}:
        return me(state, token.value, route, params)
    parts = route.split("/")
    if len(parts) == 1 and method == "GET":
        return get_object(state, parts[0], params)
    handler = EDGES.get((method, parts[-1])) if len(parts) == 2 else None
    if handler is None:
        raise GraphFault(f"Unknown path components: /{route}", code=2500)
    return handler(state, parts[0], params)


def me(state: SandboxState, value: str, route: str, params: dict[str, str]) -> dict[str, Any]:
    """``/me`` for each token kind, and ``/me/accounts`` for a Facebook user token."""
    token = state.tokens.get(value) or state.authenticate(value)
    if route == "me/accounts":
        if token.kind != "fb_user":
            raise GraphFault("(#100) Tried accessing nonexisting field (accounts)", code=100)
        return {"data": [_page(state, p.id, with_token=True) for p in state.pages.values()], "paging": {}}
    if token.kind == "page":
        return _page(state, token.page_id, with_token=False)
    if token.kind == "fb_user":
        return {"id": "10158000000000001", "name": "Sandbox Facebook User"}
    account = state.account(token.ig_user_id)
    return {"id": f"2{account.id[1:]}", "user_id": account.id, "username": account.username, "name": account.name,
            "profile_picture_url": f"https://scontent.cdninstagram.com/{account.id}.jpg"}


def _page(state: SandboxState, page_id: str, *, with_token: bool) -> dict[str, Any]:
    page = state.pages[page_id]
    values: dict[str, Any] = {"id": page.id, "name": page.name}
    if with_token:
        values["access_token"] = page.token
    if page.ig_user_id:
        account = state.account(page.ig_user_id)
        values["instagram_business_account"] = {"id": account.id, "username": account.username,
                                                "name": account.name}
    return values
