"""Listing the Instagram accounts a token can publish to.

- Instagram Login: ``GET {graph.instagram.com}/{ver}/me?fields=user_id,username,name,profile_picture_url``
  -> one destination ``instagram:instagram:<user_id>`` (reference §2.1).
- Facebook Login: a user token lists its Pages with ``GET /me/accounts?fields=...,instagram_business_account``
  -> one ``instagram:meta:<ig user id>`` per Page with a linked account, carrying the Page token;
  a Page token (``/me`` is the Page) -> its own linked account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.errors import PermanentChannelError
from plugins.types import ConnectedDestination, Credentials, Destination

from .graph import Graph, graph_for
from .spec import CHANNEL, PROVIDER_META

IG_FIELDS = "instagram_business_account{id,username,name}"


def list_destinations(provider: str, credentials: Credentials,
                      settings: Mapping[str, str]) -> list[ConnectedDestination]:
    """Every Instagram account the credentials grant on ``provider``."""
    probe = Destination(channel=CHANNEL, provider=provider, account_id="me")
    graph = graph_for(probe, credentials, settings)
    if provider == PROVIDER_META:
        return _facebook_login(graph)
    me = graph.get("me", {"fields": "user_id,username,name,profile_picture_url"}).body
    account_id = str(me.get("user_id") or me["id"])
    return [ConnectedDestination(_destination(provider, account_id, me))]


def _destination(provider: str, account_id: str, info: Mapping[str, Any], **extra: str) -> Destination:
    username = info.get("username")
    metadata = {k: str(v) for k, v in info.items() if k in {"username", "name", "profile_picture_url"} and v}
    return Destination(channel=CHANNEL, provider=provider, account_id=account_id,
                       name=f"@{username}" if username else str(info.get("name") or account_id),
                       metadata={**metadata, **extra})


def _facebook_login(graph: Graph) -> list[ConnectedDestination]:
    try:
        pages = graph.get("me/accounts", {"fields": f"id,name,access_token,{IG_FIELDS}"}).body.get("data", [])
    except PermanentChannelError:  # a Page token: /me is the Page itself
        page = graph.get("me", {"fields": f"id,name,{IG_FIELDS}"}).body
        return [d for d in [_page_destination(page, None)] if d]
    found = (_page_destination(p, Credentials(access_token=p["access_token"]) if p.get("access_token") else None)
             for p in pages)
    return [d for d in found if d]


def _page_destination(page: Mapping[str, Any], credentials: Credentials | None) -> ConnectedDestination | None:
    account = page.get("instagram_business_account")
    if not account:
        return None
    destination = _destination(PROVIDER_META, str(account["id"]), account,
                               page_id=str(page.get("id", "")), page_name=str(page.get("name", "")))
    return ConnectedDestination(destination, credentials=credentials)
