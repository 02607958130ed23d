#!/usr/bin/env python3
"""Verify one siteban webhook delivery (Standard Webhooks), with the Python 3 standard library.

Usage:
    verify_webhook.py SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body

SECRET is the provider's `whsec_...` secret, the next three arguments are the values of the
delivery's `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, and standard input
is the raw request body, byte for byte as it arrived. Exits 0 when the delivery is valid, 1 when
it is not (wrong signature, altered body, other secret, or a timestamp more than five minutes
away from this machine's clock), 2 on a usage error.

In a receiver, call `verify()` with the headers and the raw body before parsing the JSON.
"""

import base64
import binascii
import hashlib
import hmac
import sys
import time

# Deliveries older or newer than this are refused, so a captured delivery cannot be replayed.
TOLERANCE_SECONDS = 300


def verify(secret: str, headers: dict, body: bytes, now: float | None = None) -> bool:
    """True when one of the signatures in `webhook-signature` is valid for this delivery."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        msg_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        signatures = headers["webhook-signature"]
    except (KeyError, binascii.Error):
        return False
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # The header may carry several space-separated signatures (for example while a secret is
    # rotated); one valid `v1` signature is enough. compare_digest takes constant time.
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in signatures.split(" ")
    )


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(
            "usage: verify_webhook.py SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body",
            file=sys.stderr,
        )
        return 2
    secret, msg_id, timestamp, signature = argv[1:]
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    body = sys.stdin.buffer.read()
    if verify(secret, headers, body):
        print("valid")
        return 0
    print("invalid", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
