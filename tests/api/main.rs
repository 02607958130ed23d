//! Integration tests against the real HTTP API. The behaviour suite runs every case on the
//! embedded store and on each Redis deployment started for the test: one `redis-server`, a
//! three-primary Redis Cluster, and a primary with a replica behind three sentinels (with
//! writes waiting for the replica).

mod fixtures;
mod helpers;

mod bad_input;
mod behaviour;
mod browser;
mod cases;
mod console;
mod console_pages;
mod dns;
mod documents;
mod locating;
mod log;
mod mirror;
mod notice_processes;
mod notices;
mod processes;
mod records;
mod roles;
mod safety;
mod scale;
mod service;
mod topology;

/// Runs each listed behaviour case once per store and Redis deployment.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::behaviour::$case(crate::helpers::Store::Embedded).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::behaviour::$case(crate::helpers::Store::Redis).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::behaviour::$case(crate::helpers::Store::Cluster).await;
                }
            )*
        }
        mod sentinel {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::behaviour::$case(crate::helpers::Store::Sentinel).await;
                }
            )*
        }
    };
}

on_both_stores!(
    list_check_lift_and_relist,
    exact_scope_matches_the_name_alone,
    idn_names_are_listed_and_checked_in_either_form,
    conflicts_and_missing_entries,
    entries_page_by_status,
    batch_checks_answer_in_order,
    feed_pages_and_long_polls,
    feed_history_beyond_retention_needs_a_snapshot,
    snapshot_plus_feed_reconstructs_the_active_set,
    snapshot_text_and_rpz_zone,
    keys_are_created_listed_and_revoked,
    operations_endpoints,
    bad_input_is_refused_and_changes_nothing,
    every_role_gets_what_the_matrix_says,
    provincial_keys_act_within_their_province,
    protected_names_are_never_listed_without_an_override,
    four_eyes_entries_wait_for_a_second_key,
    four_eyes_lifts_wait_for_a_second_key,
    lifts_are_immediate_without_lift_approval,
    lift_requests_and_approvals_are_atomic,
    state_changes_are_audited_in_a_chain,
    providers_are_managed_and_keys_bound_to_them,
    listing_locates_the_site_and_notifies_its_providers,
    listings_never_wait_for_a_failing_upstream,
    a_site_that_moves_is_followed,
    idn_sites_are_located,
    imports_are_located_unless_told_not_to,
    older_located_entries_get_locate_jobs_once,
    webhooks_are_signed_retried_and_delivered,
    overdue_notices_change_status_on_time,
    the_four_routes_end_to_end,
    a_returned_case_is_sent_again,
    an_emergency_suspension_expires,
    closure_turns_a_suspension_into_a_listing,
    invalid_cases_and_steps_are_refused,
    referrals_cross_between_the_sides,
    case_endpoints_check_roles,
    measures_decide_which_providers_are_told,
    operators_of_closed_cases_are_blacklisted,
    organisations_are_told_of_new_inbox_items,
    the_log_proves_the_feed_with_tiles_and_proofs,
    the_log_outlives_the_feeds_retention,
    audit_tampering_is_caught_against_the_signed_checkpoint,
);
