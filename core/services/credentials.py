"""Platform credentials at rest: Fernet-encrypted JSON bound to their destination.

``MARKAESTRO_SECRET_KEY`` holds one or more comma-separated Fernet keys; the
first encrypts, all decrypt (rotation). The plaintext names the destination
it belongs to, so a ciphertext copied onto another row is refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from plugins.types import Credentials


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted or belong to another destination."""


def fernet(secret_keys: str) -> MultiFernet:
    return MultiFernet(_keys(secret_keys))


def _keys(secret_keys: str) -> list[Fernet]:
    keys = [k.strip() for k in secret_keys.split(",") if k.strip()]
    if not keys:
        raise ValueError("MARKAESTRO_SECRET_KEY holds no key")
    return [Fernet(k.encode()) for k in keys]


def rotated(secret_keys: str, token: str) -> str | None:
    """``token`` encrypted again under the first key (its timestamp kept); ``None`` when it already is.

    :raises CredentialsUnreadable: no configured key decrypts it.
    """
    keys = _keys(secret_keys)
    try:
        keys[0].decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return MultiFernet(keys).rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("stored secret cannot be decrypted with the configured keys") from None


def encrypt_text(secret_keys: str, text: str) -> str:
    return fernet(secret_keys).encrypt(text.encode()).decode()


def decrypt_text(secret_keys: str, token: str) -> str:
    try:
        return fernet(secret_keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("stored secret cannot be decrypted with the configured keys") from None


def seal(secret_keys: str, owner_id: str, credentials: Credentials) -> str:
    """Encrypt ``credentials`` for the row ``owner_id``."""
    document = {
        "owner": owner_id,
        "accessToken": credentials.access_token,
        "refreshToken": credentials.refresh_token,
        "expiresAt": _stamp(credentials.expires_at),
        "refreshExpiresAt": _stamp(credentials.refresh_expires_at),
        "scopes": list(credentials.scopes),
        "extra": dict(credentials.extra),
    }
    return encrypt_text(secret_keys, json.dumps(document))


def unseal(secret_keys: str, owner_id: str, token: str) -> Credentials:
    """Decrypt credentials sealed for ``owner_id``; :class:`CredentialsUnreadable` otherwise."""
    document: dict[str, Any] = json.loads(decrypt_text(secret_keys, token))
    if document.get("owner") != owner_id:
        raise CredentialsUnreadable("stored credentials belong to another destination")
    return Credentials(
        access_token=document["accessToken"],
        refresh_token=document.get("refreshToken"),
        expires_at=_parse(document.get("expiresAt")),
        refresh_expires_at=_parse(document.get("refreshExpiresAt")),
        scopes=tuple(document.get("scopes") or ()),
        extra=document.get("extra") or {},
    )


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
