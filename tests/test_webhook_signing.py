"""Standard Webhooks v1 signing, checked against the reference vector and the reference library."""

from __future__ import annotations

import base64
import re
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.webhooks import signing


def test_reproduces_the_standard_webhooks_reference_vector():
    signature = signing.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                             1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_are_whsec_base64_of_32_random_bytes():
    secrets = {signing.generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", secret)
        assert len(base64.b64decode(secret[len("whsec_"):])) == 32


def test_headers_verify_with_the_reference_library_and_fail_for_another_body():
    secret, body = signing.generate_secret(), b'{"id":"evt_1","type":"post.published"}'
    headers = signing.headers(secret, "evt_1", int(time.time()), body)
    assert headers["Content-Type"] == "application/json"
    assert Webhook(secret).verify(body, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, headers)
