//! The DNS listener against real software: Unbound loads the RPZ zone from siteban by AXFR and
//! follows it through NOTIFY and IXFR; `dig` verifies TSIG-signed multi-message transfers;
//! direct queries check the DNSBL, the transfer rules and that no failure answers in 127/8.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::json;
use siteban::dns::tsig;
use siteban::settings::TsigKeySettings;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{DEADLINE, Store, TestApp, entry_body, eventually, free_port, spawn_app_with};

const SECRET: &str = "c2l0ZWJhbi10ZXN0LXRyYW5zZmVyLWtleS0wMTIzNDU2Nzg5";

async fn dns_app(tweak: impl FnOnce(&mut siteban::settings::Settings)) -> (TestApp, SocketAddr) {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.dns.listen = "127.0.0.1:0".into();
        s.dns.workers = 1;
        tweak(s);
    })
    .await;
    let address = app.dns_address.expect("the DNS listener runs");
    (app, address)
}

fn query(name: &str, rtype: RecordType) -> Message {
    query_name(Name::from_ascii(name).unwrap(), rtype)
}

fn query_name(name: Name, rtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.id = rand::random();
    message.metadata.recursion_desired = true;
    message.add_query(hickory_proto::op::Query::query(name, rtype));
    message
}

async fn udp(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => Some(buf[..len].to_vec()),
        _ => None,
    }
}

async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let reply = udp(server, &query(name, rtype).to_vec().unwrap())
        .await
        .unwrap_or_else(|| panic!("{server} answers {name} {rtype}"));
    Message::from_vec(&reply).unwrap()
}

fn soa_serial(record: &Record) -> Option<u32> {
    match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

/// Sends one message over TCP (from `source`) and reads the messages of the answer, up to the
/// closing SOA of a transfer.
async fn tcp(server: SocketAddr, source: IpAddr, packet: &[u8]) -> Vec<Vec<u8>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
    let mut messages = Vec::new();
    let mut first_serial = None;
    let mut answers = 0;
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "the transfer ends in time");
        let mut length = [0u8; 2];
        if tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut length))
            .await
            .is_err()
        {
            break;
        }
        let mut message = vec![0u8; u16::from_be_bytes(length) as usize];
        stream.read_exact(&mut message).await.unwrap();
        let parsed = Message::from_vec(&message).unwrap();
        messages.push(message);
        if parsed.metadata.response_code != ResponseCode::NoError {
            break;
        }
        answers += parsed.answers.len();
        if first_serial.is_none() {
            first_serial = parsed.answers.first().and_then(soa_serial);
        }
        let last = parsed.answers.last().and_then(soa_serial);
        if answers == 1 || (answers > 1 && last.is_some() && last == first_serial) {
            break;
        }
    }
    messages
}

fn transfer_query(rtype: RecordType, serial: Option<u32>) -> Message {
    let mut message = query("rpz.siteban.", rtype);
    message.metadata.recursion_desired = false;
    if let Some(serial) = serial {
        let soa =
            hickory_proto::rr::rdata::SOA::new(Name::root(), Name::root(), serial, 0, 0, 0, 0);
        message.add_authority(Record::from_rdata(
            Name::from_ascii("rpz.siteban.").unwrap(),
            0,
            RData::SOA(soa),
        ));
    }
    message
}

fn answers(messages: &[Vec<u8>]) -> Vec<Record> {
    messages
        .iter()
        .flat_map(|m| Message::from_vec(m).unwrap().answers)
        .collect()
}

fn rcode(messages: &[Vec<u8>]) -> ResponseCode {
    Message::from_vec(&messages[0])
        .unwrap()
        .metadata
        .response_code
}

fn owners(records: &[Record], rtype: RecordType) -> Vec<String> {
    let mut names: Vec<String> = records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| r.name.to_ascii())
        .collect();
    names.sort();
    names
}

fn key() -> tsig::Key {
    use base64::Engine;
    tsig::Key::new(
        "transfer-key",
        base64::engine::general_purpose::STANDARD
            .decode(SECRET)
            .unwrap(),
    )
}

fn key_settings() -> TsigKeySettings {
    TsigKeySettings {
        name: "transfer-key.".into(),
        algorithm: "hmac-sha256".into(),
        secret: SECRET.into(),
    }
}

async fn list(app: &TestApp, token: &str, domain: &str, scope: &str) {
    let mut body = entry_body(domain);
    body["scope"] = json!(scope);
    let response = app.post(token, "/v1/entries", &body).await;
    assert_eq!(response.status(), 201, "listing {domain}");
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsbl_answers_listings_and_nothing_else() {
    let (app, dns) = dns_app(|_| {}).await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "counterfeit-shop.cn", "subtree").await;
    list(&app, &agency, "exact-shop.cn", "exact").await;

    for name in [
        "counterfeit-shop.cn.dnsbl.siteban.",
        "WWW.Counterfeit-Shop.CN.dnsbl.siteban.",
        "exact-shop.cn.dnsbl.siteban.",
    ] {
        let reply = ask(dns, name, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert!(reply.metadata.authoritative);
        assert_eq!(reply.answers.len(), 1, "{name}");
        assert_eq!(
            reply.answers[0].data,
            RData::A(Ipv4Addr::new(127, 0, 0, 2).into())
        );
        assert_eq!(
            reply.queries[0].name.to_ascii(),
            name,
            "the question is echoed as sent"
        );
    }
    for name in [
        "www.exact-shop.cn.dnsbl.siteban.",
        "notcounterfeit-shop.cn.dnsbl.siteban.",
        "honest-shop.cn.dnsbl.siteban.",
        "cn.dnsbl.siteban.",
    ] {
        let reply = ask(dns, name, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        assert!(reply.answers.is_empty());
        assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);
    }

    let reply = ask(
        dns,
        "www.counterfeit-shop.cn.dnsbl.siteban.",
        RecordType::TXT,
    )
    .await;
    let RData::TXT(txt) = &reply.answers[0].data else {
        panic!("a TXT answer: {reply:?}");
    };
    let strings: Vec<String> = txt
        .txt_data
        .iter()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    let entry: serde_json::Value = app
        .get(&agency, "/v1/entries/counterfeit-shop.cn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        strings,
        [
            format!("entry_id={}", entry["current"]["id"].as_str().unwrap()),
            "category=counterfeit_goods".to_string(),
            "decision=京市监处罚〔2024〕123号".to_string(),
        ]
    );
    // A listed name has no other types.
    let reply = ask(dns, "counterfeit-shop.cn.dnsbl.siteban.", RecordType::AAAA).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());

    // Outside the zones: REFUSED. Not a query, or malformed: an error code, never an answer.
    let reply = ask(dns, "counterfeit-shop.cn.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    let reply = ask(
        dns,
        "counterfeit-shop.cn.dnsbl.siteban.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    let mut garbage = query("counterfeit-shop.cn.dnsbl.siteban.", RecordType::A)
        .to_vec()
        .unwrap();
    garbage.truncate(garbage.len() - 3);
    let reply = Message::from_vec(&udp(dns, &garbage).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert!(reply.answers.is_empty());
    let mut notify = query("counterfeit-shop.cn.dnsbl.siteban.", RecordType::A);
    notify.metadata.op_code = hickory_proto::op::OpCode::Notify;
    let reply = Message::from_vec(&udp(dns, &notify.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert!(reply.answers.is_empty());

    // The apex of both zones, over UDP and TCP.
    let reply = ask(dns, "dnsbl.siteban.", RecordType::SOA).await;
    assert_eq!(soa_serial(&reply.answers[0]), Some(2));
    let reply = ask(dns, "rpz.siteban.", RecordType::NS).await;
    assert_eq!(
        reply.answers[0].data,
        RData::NS(hickory_proto::rr::rdata::NS(
            Name::from_ascii("localhost.").unwrap()
        ))
    );
    let messages = tcp(
        dns,
        LOCALHOST,
        &query("www.counterfeit-shop.cn.dnsbl.siteban.", RecordType::A)
            .to_vec()
            .unwrap(),
    )
    .await;
    assert_eq!(answers(&messages).len(), 1);
}

/// For any name and any query type, only a listed name gets an address, and only 127.0.0.2.
#[test]
fn no_dnsbl_answer_for_an_unlisted_name_is_in_127_8() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, dns) = runtime.block_on(async {
        let (app, dns) = dns_app(|_| {}).await;
        let agency = app.create_key("agency", None).await;
        list(&app, &agency, "ab.cn", "subtree").await;
        list(&app, &agency, "c-d.ab.com.cn", "exact").await;
        (app, dns)
    });
    let index = app.registry.index.clone();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let label = "[a-d0-9-]{1,4}|ab|cn|com|dnsbl|siteban|rpz|\\*";
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::collection::vec(proptest::string::string_regex(label).unwrap(), 1..6),
        prop_oneof![
            Just(RecordType::A),
            Just(RecordType::ANY),
            Just(RecordType::TXT),
            Just(RecordType::AAAA)
        ],
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(labels, rtype, junk, raw)| {
            let name = format!("{}.dnsbl.siteban.", labels.join("."));
            let packet = if raw {
                // Random bytes after a valid header: the listener must not answer with data.
                let mut packet = vec![0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
                packet.extend_from_slice(&junk);
                packet
            } else {
                let labels = labels
                    .iter()
                    .map(String::as_str)
                    .chain(["dnsbl", "siteban"])
                    .map(str::as_bytes);
                let Ok(name) = Name::from_labels(labels) else {
                    return Ok(());
                };
                query_name(name, rtype).to_vec().unwrap()
            };
            socket.send_to(&packet, dns).unwrap();
            let mut buf = [0u8; 4096];
            let Ok((len, _)) = socket.recv_from(&mut buf) else {
                return Ok(());
            };
            let Ok(reply) = Message::from_vec(&buf[..len]) else {
                return Ok(());
            };
            let relative = labels.join(".").to_ascii_lowercase();
            let listed = !raw && index.lookup(&relative).hit.is_some();
            for record in &reply.answers {
                if let RData::A(address) = &record.data {
                    prop_assert!(listed, "{name} is not listed but got {address}");
                    prop_assert_eq!(address.0, Ipv4Addr::new(127, 0, 0, 2));
                }
            }
            if !listed {
                prop_assert!(
                    reply
                        .answers
                        .iter()
                        .all(|r| r.record_type() != RecordType::A)
                );
            }
            Ok(())
        })
        .unwrap();
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ixfr_sends_the_difference_and_axfr_the_zone() {
    let (app, dns) = dns_app(|s| s.dns.rpz_notice_host = "notice.example.".into()).await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "one-shop.cn", "subtree").await;
    list(&app, &agency, "two-shop.cn", "exact").await;

    let axfr = tcp(
        dns,
        LOCALHOST,
        &transfer_query(RecordType::AXFR, None).to_vec().unwrap(),
    )
    .await;
    let records = answers(&axfr);
    assert_eq!(soa_serial(&records[0]), Some(2));
    assert_eq!(soa_serial(records.last().unwrap()), Some(2));
    assert_eq!(
        owners(&records, RecordType::CNAME),
        [
            "*.one-shop.cn.rpz.siteban.",
            "one-shop.cn.rpz.siteban.",
            "two-shop.cn.rpz.siteban."
        ]
    );
    assert!(
        records
            .iter()
            .filter(|r| r.record_type() == RecordType::CNAME)
            .all(|r| r.data
                == RData::CNAME(hickory_proto::rr::rdata::CNAME(
                    Name::from_ascii("notice.example.").unwrap()
                )))
    );

    assert_eq!(app.lift(&agency, "one-shop.cn").await.status(), 200);
    list(&app, &agency, "three-shop.cn", "exact").await;
    let ixfr = tcp(
        dns,
        LOCALHOST,
        &transfer_query(RecordType::IXFR, Some(2)).to_vec().unwrap(),
    )
    .await;
    let records = answers(&ixfr);
    let serials: Vec<Option<u32>> = records.iter().map(soa_serial).collect();
    assert_eq!(
        serials,
        [Some(4), Some(2), None, None, Some(4), None, Some(4)],
        "SOA new, SOA old, removed, SOA new, added, SOA new: {records:?}"
    );
    assert_eq!(
        owners(&records[2..4], RecordType::CNAME),
        ["*.one-shop.cn.rpz.siteban.", "one-shop.cn.rpz.siteban."]
    );
    assert_eq!(records[5].name.to_ascii(), "three-shop.cn.rpz.siteban.");

    // Up to date: the SOA alone. From an unknown serial: the whole zone.
    let current = answers(
        &tcp(
            dns,
            LOCALHOST,
            &transfer_query(RecordType::IXFR, Some(4)).to_vec().unwrap(),
        )
        .await,
    );
    assert_eq!(current.len(), 1);
    let ahead = answers(
        &tcp(
            dns,
            LOCALHOST,
            &transfer_query(RecordType::IXFR, Some(90)).to_vec().unwrap(),
        )
        .await,
    );
    assert_eq!(
        owners(&ahead, RecordType::CNAME),
        ["three-shop.cn.rpz.siteban.", "two-shop.cn.rpz.siteban."]
    );
    // Over UDP, IXFR gets the SOA alone and AXFR is refused as malformed.
    let reply = Message::from_vec(
        &udp(
            dns,
            &transfer_query(RecordType::IXFR, Some(2)).to_vec().unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(reply.answers.len(), 1);
    let reply = Message::from_vec(
        &udp(
            dns,
            &transfer_query(RecordType::AXFR, None).to_vec().unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(reply.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_need_an_allowed_address_and_a_valid_tsig() {
    let (app, dns) = dns_app(|s| {
        s.dns.transfer_allow = vec!["127.0.0.1/32".into()];
        s.dns.tsig_keys = vec![key_settings()];
    })
    .await;
    // Enough entries for several transfer messages.
    let lines: String = (0..1500)
        .map(|i| {
            let mut body = entry_body(&format!("shop-{i}.example.cn"));
            body["scope"] = json!(if i % 2 == 0 { "subtree" } else { "exact" });
            body.to_string() + "\n"
        })
        .collect();
    let entries = siteban::import::parse(lines.as_bytes()).unwrap();
    app.registry.store.import(entries).await.unwrap();
    let head = app.registry.store.head().await.unwrap();
    assert!(app.registry.index.wait_for(head, DEADLINE).await);

    let axfr = transfer_query(RecordType::AXFR, None).to_vec().unwrap();
    let (signed, request_mac) = tsig::sign_request(&key(), axfr.clone());

    // From an address outside the allow list: refused, signed or not.
    let refused = tcp(dns, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), &signed).await;
    assert_eq!(rcode(&refused), ResponseCode::Refused);
    // Unsigned while keys are configured: refused.
    let refused = tcp(dns, LOCALHOST, &axfr).await;
    assert_eq!(rcode(&refused), ResponseCode::Refused);
    assert!(answers(&refused).is_empty());
    // Signed with a wrong secret or an unknown key: NOTAUTH, nothing transferred.
    let wrong = tsig::Key::new("transfer-key", b"not-the-secret-not-the-secret!!!".to_vec());
    let (bad, _) = tsig::sign_request(&wrong, axfr.clone());
    let failed = tcp(dns, LOCALHOST, &bad).await;
    assert_eq!(rcode(&failed), ResponseCode::NotAuth);
    assert!(answers(&failed).is_empty());
    let stranger = tsig::Key::new("other-key", b"not-the-secret-not-the-secret!!!".to_vec());
    let (bad, _) = tsig::sign_request(&stranger, axfr.clone());
    assert_eq!(
        rcode(&tcp(dns, LOCALHOST, &bad).await),
        ResponseCode::NotAuth
    );

    // Signed correctly: the whole zone in several messages, each signed in a chain.
    let messages = tcp(dns, LOCALHOST, &signed).await;
    assert!(
        messages.len() > 1,
        "a zone of 2,250 records takes several messages"
    );
    assert!(messages.iter().all(|m| m.len() <= 16 * 1024 + 200));
    tsig::verify_responses(&key(), &request_mac, &messages).unwrap();
    let records = answers(&messages);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.record_type() == RecordType::CNAME)
            .count(),
        2250
    );

    // dig, an independent TSIG implementation, verifies every message of the transfer.
    let output = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "rpz.siteban.",
            "AXFR",
            "-y",
            &format!("hmac-sha256:transfer-key:{SECRET}"),
        ])
        .output()
        .expect("dig runs (scripts/test installs dnsutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("XFR size: 2253 records"), "{text}");
    assert!(
        !text.contains("failure") && !text.contains("failed"),
        "{text}"
    );
    let output = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "rpz.siteban.",
            "AXFR",
            "-y",
            "hmac-sha256:transfer-key:bm90LXRoZS1zZWNyZXQtbm90LXRoZS1zZWNyZXQhISE=",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("BADSIG") && text.contains("Transfer failed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpz_over_http_has_an_etag_and_the_notice_host() {
    let (app, _) = dns_app(|s| s.dns.rpz_notice_host = "notice.example.".into()).await;
    let agency = app.create_key("agency", None).await;
    let dns = app.create_key("dns_provider", None).await;
    list(&app, &agency, "tree-shop.cn", "subtree").await;
    let response = app.get(&dns, "/v1/rpz").await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let zone = response.text().await.unwrap();
    assert!(
        zone.contains("\ntree-shop.cn CNAME notice.example.\n"),
        "{zone}"
    );
    assert!(
        zone.contains("\n*.tree-shop.cn CNAME notice.example.\n"),
        "{zone}"
    );

    let get = |tag: &str| {
        app.client
            .get(app.url("/v1/rpz"))
            .bearer_auth(&dns)
            .header("If-None-Match", tag)
            .header("Accept-Encoding", "gzip")
            .send()
    };
    let response = get(&etag).await.unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    let response = get("\"something-else\"").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-type"], "text/dns");

    list(&app, &agency, "other-shop.cn", "exact").await;
    let response = get(&etag).await.unwrap();
    assert_eq!(response.status(), 200, "a change makes a new version");
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
}

/// An Unbound of the test's own, using siteban's zone as its RPZ. Names under `cn.` resolve
/// from a local zone (a stand-in for the internet), after the RPZ has had its say.
pub(crate) struct Unbound {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl Unbound {
    fn start(port: u16, primary: SocketAddr) -> Unbound {
        Unbound::start_with(port, primary, "")
    }

    /// Starts Unbound with `records` (zone file lines relative to `cn.`) added to its local
    /// stand-in for the internet.
    pub(crate) fn start_with(port: u16, primary: SocketAddr, records: &str) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("cn.zone"),
            format!("$ORIGIN cn.\n$TTL 60\n@ SOA ns.cn. hostmaster.cn. 1 3600 600 86400 60\n@ NS ns.cn.\n\
             ns A 192.0.2.53\ncounterfeit-shop A 192.0.2.1\nwww.counterfeit-shop A 192.0.2.2\n\
             exact-shop A 192.0.2.3\nwww.exact-shop A 192.0.2.4\nhonest-shop A 192.0.2.5\n\
             late-listed A 192.0.2.6\nwww.late-listed A 192.0.2.7\n{records}"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("unbound.conf"),
            format!(
                "server:\n  username: \"\"\n  chroot: \"\"\n  directory: \"{path}\"\n  pidfile: \"\"\n\
                 \x20 do-daemonize: no\n  use-syslog: no\n  logfile: \"{path}/unbound.log\"\n  verbosity: 2\n\
                 \x20 interface: 127.0.0.1\n  port: {port}\n  so-reuseport: no\n  do-ip6: no\n\
                 \x20 access-control: 127.0.0.0/8 allow\n  module-config: \"respip iterator\"\n\
                 auth-zone:\n  name: \"cn.\"\n  zonefile: \"{path}/cn.zone\"\n  for-downstream: yes\n\
                 \x20 for-upstream: yes\n  fallback-enabled: no\n\
                 rpz:\n  name: \"rpz.siteban.\"\n  primary: {}@{}\n  rpz-log: yes\n\
                 remote-control:\n  control-enable: no\n",
                primary.ip(),
                primary.port()
            ),
        )
        .unwrap();
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(dir.path().join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start unbound ({e}); install it (scripts/test does) and retry")
            });
        Unbound { port, dir, child }
    }

    pub(crate) fn address(&self) -> SocketAddr {
        SocketAddr::new(LOCALHOST, self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    /// The response code Unbound gives for `name`, if it answers.
    pub(crate) async fn status(&self, name: &str) -> Option<ResponseCode> {
        let reply = udp(
            self.address(),
            &query(name, RecordType::A).to_vec().unwrap(),
        )
        .await?;
        Some(Message::from_vec(&reply).ok()?.metadata.response_code)
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_blocks_listed_names_and_follows_changes() {
    let unbound_port = free_port();
    let (app, dns) = dns_app(|s| s.dns.notify = vec![format!("127.0.0.1:{unbound_port}")]).await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "counterfeit-shop.cn", "subtree").await;
    list(&app, &agency, "exact-shop.cn", "exact").await;

    let unbound = Unbound::start(unbound_port, dns);
    let nx = Some(ResponseCode::NXDomain);
    let ok = Some(ResponseCode::NoError);
    // The first transfer (AXFR) happens when Unbound starts.
    eventually(DEADLINE, "Unbound to load the zone by AXFR", || async {
        unbound.status("counterfeit-shop.cn.").await == nx
    })
    .await;
    assert_eq!(
        unbound.status("www.counterfeit-shop.cn.").await,
        nx,
        "{}",
        unbound.log()
    );
    assert_eq!(unbound.status("exact-shop.cn.").await, nx);
    assert_eq!(
        unbound.status("www.exact-shop.cn.").await,
        ok,
        "an exact entry leaves its subdomains alone"
    );
    assert_eq!(unbound.status("honest-shop.cn.").await, ok);
    assert_eq!(unbound.status("late-listed.cn.").await, ok);

    // A listing reaches Unbound within 5 s through NOTIFY and IXFR.
    list(&app, &agency, "late-listed.cn", "subtree").await;
    eventually(
        Duration::from_secs(5),
        "Unbound to block a new listing",
        || async { unbound.status("www.late-listed.cn.").await == nx },
    )
    .await;
    assert_eq!(unbound.status("late-listed.cn.").await, nx);
    // A lift makes the name resolve again.
    assert_eq!(app.lift(&agency, "late-listed.cn").await.status(), 200);
    eventually(
        Duration::from_secs(5),
        "Unbound to follow a lift",
        || async { unbound.status("late-listed.cn.").await == ok },
    )
    .await;
    assert_eq!(unbound.status("www.late-listed.cn.").await, ok);
    assert_eq!(unbound.status("counterfeit-shop.cn.").await, nx);
    let log = unbound.log();
    assert!(log.contains("received NOTIFY"), "{log}");
    let transfers = |kind: &str| {
        app.registry
            .metrics
            .dns_transfers
            .with_label_values(&[kind])
            .get()
    };
    assert_eq!(transfers("axfr"), 1, "the first transfer only is whole");
    assert!(transfers("ixfr") >= 2, "changes come by IXFR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_gets_nothing_from_a_disallowed_address() {
    let unbound_port = free_port();
    let (app, dns) = dns_app(|s| s.dns.transfer_allow = vec!["127.0.0.2".into()]).await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "counterfeit-shop.cn", "subtree").await;
    let unbound = Unbound::start(unbound_port, dns);
    eventually(DEADLINE, "Unbound to answer", || async {
        unbound.status("honest-shop.cn.").await.is_some()
    })
    .await;
    // Unbound asks for the SOA (answered: it is public) and then the zone (refused).
    let refused = || {
        app.registry
            .metrics
            .dns_transfers
            .with_label_values(&["refused"])
            .get()
    };
    eventually(DEADLINE, "Unbound to be refused a transfer", || async {
        refused() > 0
    })
    .await;
    assert_eq!(
        unbound.status("counterfeit-shop.cn.").await,
        Some(ResponseCode::NoError),
        "no zone, no blocking: {}",
        unbound.log()
    );
    let sent = app
        .registry
        .metrics
        .dns_transfers
        .with_label_values(&["axfr"])
        .get();
    assert_eq!(sent, 0, "nothing was transferred");
}

/// Reads NOTIFY messages arriving at `socket` until `until` says stop or the deadline passes;
/// answers them when `answer` is set. Returns (arrival, id, serial) of each.
async fn collect_notifies(
    socket: &tokio::net::UdpSocket,
    answer: bool,
    mut until: impl FnMut(&[(Instant, u16, u32)]) -> bool,
) -> Vec<(Instant, u16, u32)> {
    let mut seen = Vec::new();
    let start = Instant::now();
    let mut buf = vec![0u8; 1024];
    while !until(&seen) {
        assert!(start.elapsed() < DEADLINE, "NOTIFY seen so far: {seen:?}");
        let Ok(Ok((len, from))) =
            tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
        else {
            continue;
        };
        let message = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(message.metadata.op_code, hickory_proto::op::OpCode::Notify);
        assert_eq!(message.queries[0].name.to_ascii(), "rpz.siteban.");
        let serial = message.answers.first().and_then(soa_serial).unwrap();
        seen.push((Instant::now(), message.metadata.id, serial));
        if answer {
            let mut reply = Message::response(message.metadata.id, message.metadata.op_code);
            reply.metadata.authoritative = true;
            reply.add_queries(message.queries.clone());
            socket
                .send_to(&reply.to_vec().unwrap(), from)
                .await
                .unwrap();
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_coalesces_bursts_and_retries_unanswered() {
    let resolver = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let target = resolver.local_addr().unwrap();
    let (app, _) = dns_app(|s| s.dns.notify = vec![target.to_string()]).await;
    let agency = app.create_key("agency", None).await;

    // A burst of 20 listings: NOTIFY goes out at most once per 200 ms and ends on the last serial.
    // The resolver reads while the listings are made, so arrival times are send times.
    let reader = std::sync::Arc::clone(&resolver);
    let collector = tokio::spawn(async move {
        collect_notifies(&reader, true, |seen| {
            seen.last().is_some_and(|(_, _, serial)| *serial == 20)
        })
        .await
    });
    let started = Instant::now();
    for i in 0..20 {
        list(&app, &agency, &format!("burst-{i}.cn"), "exact").await;
    }
    let seen = collector.await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        seen.len() as u128 <= elapsed.as_millis() / 200 + 2,
        "{} NOTIFY in {elapsed:?}",
        seen.len()
    );
    for pair in seen.windows(2) {
        // 200 ms apart when sent; half of that leaves room for a late read on a busy machine.
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_millis(100),
            "{seen:?}"
        );
        assert!(pair[1].2 > pair[0].2, "serials grow: {seen:?}");
    }

    // Unanswered, the same NOTIFY is sent three times in all.
    list(&app, &agency, "unanswered.cn", "exact").await;
    let seen = collect_notifies(&resolver, false, |seen| seen.len() == 3).await;
    assert!(
        seen.iter()
            .all(|(_, id, serial)| *id == seen[0].1 && *serial == 21),
        "{seen:?}"
    );
    let unanswered = || {
        app.registry
            .metrics
            .dns_notifies
            .with_label_values(&["unanswered"])
            .get()
    };
    eventually(DEADLINE, "the NOTIFY to count as unanswered", || async {
        unanswered() == 1
    })
    .await;
}

/// Connects from `source`; `None` when the listener does not accept in 2.5 s (its backlog is
/// full). That is long enough for one SYN sent again after a second, in case the listener was
/// slow to empty its backlog on a busy machine.
async fn connect_from(server: SocketAddr, source: IpAddr) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    tokio::time::timeout(Duration::from_millis(2500), socket.connect(server))
        .await
        .ok()?
        .ok()
}

/// Whether the listener still holds `stream` open: nothing to read, no end, no error.
fn still_open(stream: &tokio::net::TcpStream) -> bool {
    matches!(
        stream.try_read(&mut [0u8; 1]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    )
}

/// A client holding as many connections from `source` as it can: it connects `attempts` times,
/// or until a connection is no longer accepted, and keeps those the listener leaves open.
/// Returns them and how many connections were accepted.
async fn hold(
    server: SocketAddr,
    source: IpAddr,
    attempts: usize,
) -> (Vec<tokio::net::TcpStream>, usize) {
    let mut held = Vec::new();
    let mut accepted = 0;
    for _ in 0..attempts {
        let Some(stream) = connect_from(server, source).await else {
            break;
        };
        accepted += 1;
        held.push(stream);
        if held.len() % 64 == 0 {
            // Closed ones are of no use to the client; dropping them keeps its descriptors few.
            held.retain(still_open);
        }
    }
    (held, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_source_can_take_the_tcp_side_from_the_allowed_resolvers() {
    let (app, dns) = dns_app(|s| {
        s.dns.transfer_allow = vec!["127.0.0.1".into()];
        s.dns.tcp_max_connections = 16;
        s.dns.tcp_max_per_source = 4;
        s.dns.tcp_transfer_reserve = 4;
        // Long enough that no connection of this test is closed for being idle.
        s.dns.tcp_idle_timeout_ms = 60_000;
    })
    .await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "held-shop.cn", "exact").await;
    let soa = query("rpz.siteban.", RecordType::SOA).to_vec().unwrap();
    let axfr = transfer_query(RecordType::AXFR, None).to_vec().unwrap();
    let resolver = |packet: Vec<u8>| async move {
        tokio::time::timeout(Duration::from_secs(5), tcp(dns, LOCALHOST, &packet)).await
    };

    // One source opens more connections than the listener ever served with its backlog
    // (256 and 128), and keeps every one it is left.
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let (mut held, accepted) = hold(dns, attacker, 500).await;
    let answered = resolver(soa.clone()).await;
    assert!(
        answered.is_ok(),
        "the allowed resolver's SOA query over TCP was not answered within 5 s while \
         {attacker} holds {} connections ({accepted} accepted)",
        held.len()
    );
    assert_eq!(
        accepted, 500,
        "a connection over a limit is accepted and closed, never left in the backlog"
    );
    eventually(
        DEADLINE,
        "the listener to leave the source its 4 connections",
        || {
            held.retain(still_open);
            let count = held.len();
            async move { count == 4 }
        },
    )
    .await;
    let closed = |reason: &str| {
        app.registry
            .metrics
            .dns_tcp_closed
            .with_label_values(&[reason])
            .get()
    };
    assert_eq!(closed("source_limit"), 496);
    let open = || app.registry.metrics.dns_tcp_open.get();
    eventually(
        DEADLINE,
        "the resolver's connection to be closed, the source's 4 left",
        || async { open() == 4 },
    )
    .await;

    // Two more sources take what is left outside the reserve; a fourth is closed at once.
    let mut others = Vec::new();
    for last in [3, 4] {
        let (streams, _) = hold(dns, IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 4).await;
        others.extend(streams);
    }
    eventually(DEADLINE, "12 connections to be open", || async {
        open() == 12
    })
    .await;
    let late = connect_from(dns, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)))
        .await
        .expect("accepted, not left in the backlog");
    eventually(DEADLINE, "a connection over the total to be closed", || {
        let closed = !still_open(&late);
        async move { closed }
    })
    .await;
    assert_eq!(closed("total_limit"), 1);
    assert!(others.iter().all(still_open));

    // The reserve: the allowed resolver still gets the SOA and the zone over TCP, and UDP
    // answers as ever.
    let messages = resolver(soa).await.expect("the SOA over TCP is answered");
    assert_eq!(soa_serial(&answers(&messages)[0]), Some(1));
    let messages = resolver(axfr).await.expect("the AXFR is answered");
    assert_eq!(
        owners(&answers(&messages), RecordType::CNAME),
        ["held-shop.cn.rpz.siteban."]
    );
    let reply = ask(dns, "rpz.siteban.", RecordType::SOA).await;
    assert_eq!(soa_serial(&reply.answers[0]), Some(1));
    assert_eq!(
        app.registry
            .metrics
            .dns_transfers
            .with_label_values(&["axfr"])
            .get(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed_after_the_idle_timeout() {
    let (app, dns) = dns_app(|s| s.dns.tcp_idle_timeout_ms = 300).await;
    let soa = query("rpz.siteban.", RecordType::SOA).to_vec().unwrap();
    let mut whole = (soa.len() as u16).to_be_bytes().to_vec();
    whole.extend_from_slice(&soa);
    let cases: [(&str, &[u8], bool); 3] = [
        ("asks once and then nothing", &whole, true),
        ("never asks", &[], false),
        ("starts a message and stops", &whole[..5], false),
    ];
    for (case, sent, answered) in cases {
        // Before the listener's clock can start, so that no close can look early.
        let start = Instant::now();
        let mut stream = connect_from(dns, LOCALHOST).await.expect(case);
        stream.write_all(sent).await.unwrap();
        if answered {
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).await.unwrap();
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut reply).await.unwrap();
            let reply = Message::from_vec(&reply).unwrap();
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::NoError,
                "{case}"
            );
        }
        let mut rest = Vec::new();
        let Ok(end) =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await
        else {
            panic!(
                "{case}: the connection is still open 5 s later, with dns.tcp_idle_timeout_ms = 300"
            );
        };
        assert_eq!(
            end.unwrap(),
            0,
            "{case}: closed, not reset, with nothing more sent"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{case}: closed after {:?}, before the idle timeout",
            start.elapsed()
        );
    }
    let idle = app
        .registry
        .metrics
        .dns_tcp_closed
        .with_label_values(&["idle"]);
    assert_eq!(idle.get(), 3);
    eventually(DEADLINE, "no connection to be open", || async {
        app.registry.metrics.dns_tcp_open.get() == 0
    })
    .await;
}

/// A query with EDNS of `version`.
fn query_with_edns(name: &str, rtype: RecordType, version: u8) -> Message {
    let mut message = query(name, rtype);
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_version(version);
    edns.set_max_payload(1232);
    message.edns = Some(edns);
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_versions_other_than_0_get_badvers() {
    let (app, dns) = dns_app(|_| {}).await;
    let agency = app.create_key("agency", None).await;
    list(&app, &agency, "versioned-shop.cn", "exact").await;
    // RFC 6891 (6.1.3): BADVERS is 16, its upper eight bits in the OPT record of the answer.
    const BADVERS: u16 = 16;
    let cases = [
        ("versioned-shop.cn.dnsbl.siteban.", RecordType::A, 0, 0, 1),
        ("rpz.siteban.", RecordType::SOA, 0, 0, 1),
        ("outside.example.", RecordType::A, 0, 5, 0),
        (
            "versioned-shop.cn.dnsbl.siteban.",
            RecordType::A,
            1,
            BADVERS,
            0,
        ),
        ("rpz.siteban.", RecordType::SOA, 1, BADVERS, 0),
        ("outside.example.", RecordType::A, 2, BADVERS, 0),
        ("dnsbl.siteban.", RecordType::SOA, 255, BADVERS, 0),
    ];
    for (name, rtype, version, rcode, answered) in cases {
        let packet = query_with_edns(name, rtype, version).to_vec().unwrap();
        let udp_reply = udp(dns, &packet).await.expect("an answer over UDP");
        let tcp_reply = tcp(dns, LOCALHOST, &packet).await.remove(0);
        for reply in [udp_reply, tcp_reply] {
            let reply = Message::from_vec(&reply).unwrap();
            let case = format!("{name} {rtype} with EDNS version {version}");
            assert_eq!(
                u16::from(reply.metadata.response_code),
                rcode,
                "{case}: {:?}",
                reply.metadata.response_code
            );
            assert_eq!(reply.answers.len(), answered, "{case}");
            let edns = reply.edns.as_ref().expect("an OPT record in the answer");
            assert_eq!(edns.version(), 0, "{case}");
            assert_eq!(reply.queries[0].name.to_ascii(), name, "{case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_no_listed_name_can_hold_gets_nxdomain_inside_a_zone() {
    let (app, dns) = dns_app(|_| {}).await;
    let agency = app.create_key("agency", None).await;
    // The name a dotted label would spell if labels were joined with dots.
    list(&app, &agency, "ex.ample.cn", "exact").await;
    let escaped = Name::from_ascii("ex\\.ample.cn.dnsbl.siteban.").unwrap();
    assert_eq!(escaped.iter().next(), Some(&b"ex.ample"[..]));
    let nx = ResponseCode::NXDomain;
    let refused = ResponseCode::Refused;
    let cases: [(&[&[u8]], ResponseCode); 9] = [
        (
            &[b"ex", b"ample", b"cn", b"dnsbl", b"siteban"],
            ResponseCode::NoError,
        ),
        (&[b"ex.ample", b"cn", b"dnsbl", b"siteban"], nx),
        (&[b"ex", b"ample.cn", b"dnsbl", b"siteban"], nx),
        (&[b"ex ample", b"cn", b"DNSBL", b"siteban"], nx),
        (&[b"ex\\ample", b"cn", b"dnsbl", b"siteban"], nx),
        (&[b"\xc3\xa9", b"cn", b"dnsbl", b"siteban"], nx),
        (&[b"ex.ample", b"cn", b"rpz", b"siteban"], nx),
        // A dot inside what would be the origin: the name is in neither zone.
        (&[b"ex", b"cn", b"dnsbl.siteban"], refused),
        (&[b"ex", b"cn.dnsbl", b"siteban"], refused),
    ];
    for (labels, rcode) in cases {
        let name = Name::from_labels(labels.iter().copied()).unwrap();
        let reply = Message::from_vec(
            &udp(
                dns,
                &query_name(name.clone(), RecordType::A).to_vec().unwrap(),
            )
            .await
            .expect("an answer"),
        )
        .unwrap();
        assert_eq!(reply.metadata.response_code, rcode, "{name:?}");
        if rcode == nx {
            assert!(reply.metadata.authoritative, "{name:?}");
            assert!(reply.answers.is_empty(), "{name:?}");
            assert_eq!(
                reply.authorities[0].record_type(),
                RecordType::SOA,
                "{name:?}"
            );
        }
    }
    let reply = Message::from_vec(
        &udp(dns, &query_name(escaped, RecordType::A).to_vec().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(reply.metadata.response_code, nx);
}
