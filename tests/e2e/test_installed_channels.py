"""The installed channel plugins, as a client discovers them (spec §2.1, §2.2)."""

from __future__ import annotations

from typing import Any

from .conftest import IG_USER, Client

SPEC_RULES = ("textOnly", "minItems", "maxItems", "maxImages", "maxVideos", "mixedMedia", "captionMaxLength")


def test_products_and_destinations_show_the_installed_channels(api: Client, tiktok_destination: str,
                                                               instagram_destination: str) -> None:
    [product] = api.get("/products")["data"]
    assert product["id"] == api.tenant.product_id and product["channels"] == ["instagram", "tiktok"]

    listed = {d["id"]: d for d in api.get(f"/products/{product['id']}/destinations")["data"]}

    assert set(listed) == {tiktok_destination, instagram_destination}
    tiktok, instagram = listed[tiktok_destination], listed[instagram_destination]
    assert instagram_destination == f"instagram:instagram:{IG_USER}"
    assert (tiktok["channel"], tiktok["provider"], tiktok["status"], tiktok["delivery"], tiktok["fanOut"]) == (
        "tiktok", "tiktok", "connected", "inbox_handoff", [])
    assert (instagram["status"], instagram["delivery"], instagram["fanOut"]) == ("connected", "direct", [])
    assert _spec_rules(tiktok) == {"textOnly": False, "minItems": 1, "maxItems": 10, "maxImages": 10,
                                   "maxVideos": 1, "mixedMedia": False, "captionMaxLength": 2200}
    assert _spec_rules(instagram) == {"textOnly": False, "minItems": 1, "maxItems": 10, "maxImages": 10,
                                      "maxVideos": 10, "mixedMedia": True, "captionMaxLength": 2200}


def _spec_rules(destination: dict[str, Any]) -> dict[str, Any]:
    """The rules fields spec §2.2 shows (the API may add more, e.g. per-kind media rules)."""
    return {k: v for k, v in destination["rules"].items() if k in SPEC_RULES}
