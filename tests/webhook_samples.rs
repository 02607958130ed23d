//! Runs the webhook verification samples of `docs/samples` (Python and Node.js) against
//! deliveries signed by the crate's own `siteban::notices::webhook::sign`, so that the code
//! providers copy from `docs/providers.md` keeps agreeing with what siteban sends. The samples
//! themselves, and the signing scheme, belong to others; this file only checks them together.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use siteban::notices::webhook;

/// One sample and the program that runs it.
struct Sample {
    program: &'static str,
    /// The Debian package that provides `program` (installed by `scripts/test`).
    package: &'static str,
    script: &'static str,
}

const PYTHON: Sample = Sample {
    program: "python3",
    package: "python3",
    script: "verify_webhook.py",
};

const NODE: Sample = Sample {
    program: "node",
    package: "nodejs",
    script: "verify_webhook.mjs",
};

/// A notice delivery's body as siteban sends it, with non-ASCII text so that the samples are
/// seen to sign the raw bytes rather than a re-encoded string.
const BODY: &[u8] = "{\"type\":\"notice.stop_access\",\"timestamp\":\"2026-05-01T08:00:00.123Z\",\
\"data\":{\"id\":\"01968a3c-5f2e-7c41-9a0b-3d2f1e6c8b70\",\"domain\":\"xn--fsqu00a.xn--fiqs8s\",\
\"domain_unicode\":\"例子.中国\",\"provider_name\":\"示例主机\",\"action\":\"stop_access\"}}"
    .as_bytes();

const ID: &str = "01968a3c-5f2e-7c41-9a0b-3d2f1e6c8b70";

fn script(sample: &Sample) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/samples")
        .join(sample.script)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

/// Fails with a message that says what to install when the sample's program is missing.
fn require(sample: &Sample) {
    match Command::new(sample.program).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{} --version` failed ({}): the webhook sample {} needs a working {}",
            sample.program, out.status, sample.script, sample.program
        ),
        Err(e) => panic!(
            "cannot run `{}` ({e}): the webhook sample {} needs it; install the Debian package \
             `{}` (scripts/test installs it when missing)",
            sample.program, sample.script, sample.package
        ),
    }
}

/// What the samples are given: the secret, the three headers (the id is always [`ID`]) and the
/// raw body.
#[derive(Clone)]
struct Delivery<'a> {
    secret: &'a str,
    timestamp: i64,
    signature: String,
    body: &'a [u8],
}

/// Runs the sample on one delivery and returns its exit code.
fn run(sample: &Sample, delivery: &Delivery) -> i32 {
    let mut child = Command::new(sample.program)
        .arg(script(sample))
        .args([
            delivery.secret,
            ID,
            &delivery.timestamp.to_string(),
            &delivery.signature,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", sample.program));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(delivery.body)
        .expect("the sample reads its body");
    let out = child.wait_with_output().expect("the sample finishes");
    out.status.code().unwrap_or_else(|| {
        panic!(
            "{} ended by a signal; stderr: {}",
            sample.script,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check_sample(sample: &Sample) {
    require(sample);
    let stored = webhook::new_secret();
    let secret = webhook::shown(&stored);
    let other_secret = webhook::shown(&webhook::new_secret());
    let timestamp = now();
    let signature = webhook::sign(&stored, ID, timestamp, BODY).expect("a fresh secret signs");
    let stale = timestamp - 3600;
    let stale_signature = webhook::sign(&stored, ID, stale, BODY).expect("a fresh secret signs");
    let mut tampered = BODY.to_vec();
    let last = tampered.len() - 3;
    tampered[last] ^= 1;

    let valid = Delivery {
        secret: &secret,
        timestamp,
        signature: signature.clone(),
        body: BODY,
    };
    let cases = [
        ("a valid delivery", valid.clone(), 0),
        (
            "a valid signature after another one",
            Delivery {
                signature: format!("v1,bm90IHRoaXMgb25l {signature}"),
                ..valid.clone()
            },
            0,
        ),
        (
            "a tampered body",
            Delivery {
                body: &tampered,
                ..valid.clone()
            },
            1,
        ),
        (
            "another secret",
            Delivery {
                secret: &other_secret,
                ..valid.clone()
            },
            1,
        ),
        (
            "a timestamp other than the signed one",
            Delivery {
                timestamp: timestamp + 1,
                ..valid.clone()
            },
            1,
        ),
        (
            "a delivery an hour old",
            Delivery {
                timestamp: stale,
                signature: stale_signature,
                ..valid.clone()
            },
            1,
        ),
    ];
    for (what, delivery, expected) in cases {
        let code = run(sample, &delivery);
        assert_eq!(
            code, expected,
            "{} on {what}: exit {code}, expected {expected}",
            sample.script
        );
    }
}

#[test]
fn the_python_sample_accepts_what_siteban_signs_and_nothing_else() {
    check_sample(&PYTHON);
}

#[test]
fn the_node_sample_accepts_what_siteban_signs_and_nothing_else() {
    check_sample(&NODE);
}
