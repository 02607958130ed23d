//! The registry's use cases called without HTTP: a listing, a case and its first step, and
//! the bulk import, on a registry built from the embedded store alone, as the command line
//! calls them.

use std::sync::Arc;

use siteban::auth::Principal;
use siteban::cases::workflow::NewCase;
use siteban::domain::{
    Category, DateWindow, Decision, DecisionInput, DomainName, IcpNumber, Province, Role, Scope,
    Uscc,
};
use siteban::registry::{CaseStep, Listing, Registry, RegistryError};

use crate::helpers::{Store, test_settings};

fn principal(key_id: &str, role: Role, province: Option<&str>) -> Principal {
    Principal {
        key_id: key_id.into(),
        name: format!("test {key_id}"),
        role,
        province: province.map(|p| Province::parse(p).unwrap()),
        expires_at: None,
        provider_id: None,
    }
}

/// The dates the default settings accept.
fn dates() -> DateWindow {
    DateWindow::until_today(siteban::settings::DocumentSettings::default().earliest_date)
}

fn decision() -> Decision {
    let input = DecisionInput {
        number: Some("京市监处罚〔2024〕123号".into()),
        authority: Some("北京市市场监督管理局".into()),
        date: Some("2024-05-01".into()),
        document_sha256: None,
    };
    Decision::parse(input, dates()).unwrap()
}

fn listing(domain: &str) -> Listing {
    Listing {
        domain: DomainName::parse_listable(domain).unwrap(),
        scope: Scope::Subtree,
        category: Category::parse("counterfeit_goods").unwrap(),
        decision: decision(),
        reason: "sold counterfeit goods".into(),
        providers: Vec::new(),
        locate: true,
        override_protection: None,
    }
}

/// A registry on a fresh embedded store, loaded and followed (until the sender it comes with
/// is dropped), with `protected` protected.
async fn registry(
    dir: &std::path::Path,
    protected: &[&str],
) -> (Arc<Registry>, tokio::sync::watch::Sender<bool>) {
    let mut settings = test_settings(Store::Embedded, dir, None);
    settings.protection.names = protected.iter().map(|n| n.to_string()).collect();
    let store = siteban::startup::open_store(&settings).await.unwrap();
    let registry = Arc::new(siteban::startup::build_registry(&settings, store, None).unwrap());
    registry.bootstrap().await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(siteban::registry::follow(Arc::clone(&registry), stopped));
    (registry, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_checked_written_and_indexed_without_http() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _follower) = registry(dir.path(), &["gov.cn"]).await;
    let agency = principal("k_agency", Role::Agency, Some("11"));

    let (entry, notices) = registry
        .list(&agency, listing("shop.example.cn"))
        .await
        .unwrap();
    assert_eq!(entry.domain.as_str(), "shop.example.cn");
    assert!(notices.is_empty(), "no provider exists to be told");
    // The answer waited for this node's index.
    let hit = registry.index.lookup("www.shop.example.cn").hit;
    assert_eq!(hit.map(|h| h.entry_id()), Some(entry.id));

    let again = registry.list(&agency, listing("shop.example.cn")).await;
    assert!(
        matches!(again, Err(RegistryError::AlreadyListed(_))),
        "{again:?}"
    );
    let protected = registry.list(&agency, listing("portal.gov.cn")).await;
    assert!(
        matches!(
            protected,
            Err(RegistryError::Invalid {
                code: "protected_domain",
                ..
            })
        ),
        "{protected:?}"
    );
    let mut named = listing("other.example.cn");
    named.providers = vec!["p_missing".into()];
    let unknown = registry.list(&agency, named).await;
    assert!(
        matches!(
            unknown,
            Err(RegistryError::Invalid {
                code: "unknown_provider",
                ..
            })
        ),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_opened_and_accepted_without_http() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _follower) = registry(dir.path(), &[]).await;
    let amr = principal("k_amr11", Role::Agency, Some("11"));
    let ca = principal("k_ca11", Role::Telecom, Some("11"));
    let new = NewCase {
        domain: DomainName::parse_listable("fake.example.cn").unwrap(),
        recorded: true,
        icp_number: Some(IcpNumber::parse("京ICP备13025326号").unwrap()),
        recordal_province: None,
        access_province: Province::parse("11").unwrap(),
        operator_name: Some("北京某某科技有限公司".into()),
        operator_credit_code: Some(Uscc::parse_strict("91110108551385082Q").unwrap()),
        category: Category::parse("counterfeit_goods").unwrap(),
        summary: "sells counterfeit branded goods".into(),
        evidence: Vec::new(),
    };

    let refused = registry.open_case(&ca, new.clone()).await;
    assert!(
        matches!(refused, Err(RegistryError::Forbidden(_))),
        "{refused:?}"
    );
    let case = registry.open_case(&amr, new).await.unwrap();
    assert_eq!(case.version, 1);

    let step = CaseStep::Accept {
        note: "received".into(),
    };
    let wrong = registry.case_step(&amr, case.id, step.clone()).await;
    assert!(
        matches!(wrong, Err(RegistryError::NotCaseHolder(_))),
        "{wrong:?}"
    );
    let accepted = registry.case_step(&ca, case.id, step).await.unwrap();
    assert_eq!(accepted.version, 2);
    assert_eq!(accepted.timeline.last().unwrap().note, "received");
    let read = registry.case(&ca, case.id).await.unwrap();
    assert_eq!(read.version, 2, "the step was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_import_checks_protected_names_and_is_audited_once() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _follower) = registry(dir.path(), &["gov.cn"]).await;
    let line = |domain: &str| {
        let mut body = crate::helpers::entry_body(domain);
        body["decision"]["date"] = "2024-05-01".into();
        body.to_string()
    };
    let bad = format!("{}\n{}\n", line("a.example.cn"), line("x.gov.cn"));
    let file = siteban::import::read(bad.as_bytes(), dates()).unwrap();
    let refused = registry
        .import(file.listings, file.lines, file.sha256, true)
        .await;
    match refused {
        Err(RegistryError::Invalid { code, message }) => {
            assert_eq!(code, "import_rejected");
            assert!(message.contains("line 2: protected_domain"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        registry
            .history(&DomainName::parse("a.example.cn").unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    let good = format!("{}\n\n{}\n", line("a.example.cn"), line("b.example.cn"));
    let file = siteban::import::read(good.as_bytes(), dates()).unwrap();
    let sha256 = file.sha256.clone();
    assert_eq!(sha256.len(), 64);
    let report = registry
        .import(file.listings, file.lines, file.sha256, true)
        .await
        .unwrap();
    assert_eq!((report.lines, report.imported, report.skipped), (3, 2, 0));
    // Each imported entry waits to be located, its job due now.
    let imported = registry
        .history(&DomainName::parse("a.example.cn").unwrap())
        .await
        .unwrap();
    let location = imported[0].location.as_ref().expect("a pending location");
    assert_eq!(location.status, siteban::model::LocationStatus::Pending);
    let due = registry
        .store
        .locate_due(siteban::model::now(), 10)
        .await
        .unwrap();
    assert!(due.contains(&imported[0].id), "{due:?}");
    let audit = registry.audit_records(0, 100).await.unwrap();
    assert_eq!(audit.len(), 1, "one record for the whole import");
    assert_eq!(audit[0].event.action, "entry.import");
    assert_eq!(audit[0].event.target, format!("sha256:{sha256}"));
    assert_eq!(audit[0].event.detail, "lines 3 imported 2 skipped 0");
}

#[test]
fn the_bulk_import_refuses_decisions_before_the_earliest_date() {
    let mut line = crate::helpers::entry_body("old.example.cn");
    line["decision"]["date"] = "1900-01-01".into();
    match siteban::import::read(format!("{line}\n").as_bytes(), dates()) {
        Err(siteban::import::ImportError::Invalid(errors)) => {
            assert_eq!(errors.len(), 1);
            assert!(
                errors[0].starts_with("line 1: invalid_decision: date 1900-01-01 is before"),
                "{}",
                errors[0]
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an import dated 1900 was read"),
    }
}

/// Listings arriving together are written together (one commit) on the embedded store: each
/// is answered with its own sequence number, a repeat among them is refused alone, and every
/// one answered is there after the store is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_written_together_are_each_answered_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (node, follower) = registry(dir.path(), &[]).await;
    let agency = principal("k_agency", Role::Agency, Some("11"));
    let domains: Vec<String> = (0..48)
        .map(|n| format!("shop{}.example.cn", n % 40))
        .collect();
    let tasks: Vec<_> = domains
        .iter()
        .map(|domain| {
            let (node, agency, domain) = (Arc::clone(&node), agency.clone(), domain.clone());
            tokio::spawn(async move { node.list(&agency, listing(&domain)).await })
        })
        .collect();
    let mut seqs = Vec::new();
    let mut repeats = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok((entry, _)) => seqs.push(entry.seq),
            Err(RegistryError::AlreadyListed(_)) => repeats += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    assert_eq!(repeats, 8);
    // The follower lets the store go once it sees the stop.
    let gone = Arc::downgrade(&node);
    drop(follower);
    drop(node);
    crate::helpers::eventually(crate::helpers::DEADLINE, "the store closed", || async {
        gone.upgrade().is_none()
    })
    .await;

    let (again, _follower) = registry(dir.path(), &[]).await;
    for n in 0..40 {
        let name = format!("shop{n}.example.cn");
        assert!(again.index.lookup(&name).hit.is_some(), "{name} kept");
    }
}
