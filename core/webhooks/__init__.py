"""Outgoing webhooks: SSRF guard, Standard Webhooks signing, pinned delivery, RQ jobs.

- :mod:`.settings` — the webhook settings read from the app config.
- :mod:`.ssrf` — URL parsing, address checks and the injectable resolver.
- :mod:`.signing` — ``whsec_`` secrets and ``v1,`` signatures.
- :mod:`.transport` — one POST to a checked, pinned address; no redirects, capped.
- :mod:`.delivery` — one attempt of a delivery and the state it leaves behind.
- :mod:`.jobs` — the RQ entry points: dispatch, deliver, sweep.
"""
