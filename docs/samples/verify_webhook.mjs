#!/usr/bin/env node
// Verify one siteban webhook delivery (Standard Webhooks), with the Node.js 20 standard library.
//
// Usage:
//     node verify_webhook.mjs SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body
//
// SECRET is the provider's `whsec_...` secret, the next three arguments are the values of the
// delivery's `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, and standard
// input is the raw request body, byte for byte as it arrived. Exits 0 when the delivery is
// valid, 1 when it is not (wrong signature, altered body, other secret, or a timestamp more
// than five minutes away from this machine's clock), 2 on a usage error.
//
// In a receiver, call `verify()` with the headers and the raw body (a Buffer) before parsing
// the JSON.

import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

// Deliveries older or newer than this are refused, so a captured delivery cannot be replayed.
const TOLERANCE_SECONDS = 300;

export function verify(secret, headers, body, now = Date.now() / 1000) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (id === undefined || timestamp === undefined || signatures === undefined) {
    return false;
  }
  if (!/^[0-9]+$/.test(timestamp)) {
    return false;
  }
  if (Math.abs(now - Number(timestamp)) > TOLERANCE_SECONDS) {
    return false;
  }
  const encoded = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) {
    return false;
  }
  const key = Buffer.from(encoded, "base64");
  const expected = createHmac("sha256", key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  // The header may carry several space-separated signatures (for example while a secret is
  // rotated); one valid `v1` signature is enough. timingSafeEqual takes constant time.
  return signatures.split(" ").some((candidate) => {
    if (!candidate.startsWith("v1,")) {
      return false;
    }
    const given = Buffer.from(candidate.slice("v1,".length), "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

function main(argv) {
  if (argv.length !== 4) {
    console.error(
      "usage: node verify_webhook.mjs SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body",
    );
    return 2;
  }
  const [secret, id, timestamp, signature] = argv;
  const headers = {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signature,
  };
  const body = readFileSync(0); // standard input, raw bytes
  if (verify(secret, headers, body)) {
    console.log("valid");
    return 0;
  }
  console.error("invalid");
  return 1;
}

// Run as a command, not when imported by a receiver.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
