//! The full sync with its state table and hand-overs, against moto: a sync with nothing to
//! do reads pages and state only, a change is the only thing read in full and written, a
//! short deadline hands the sync on until it completes, a repeated hand-over message
//! changes nothing, and an invocation with too little time is refused before any call.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::types::ParameterType;
use common::*;
use rotor_core::error::ErrorType;
use rotor_replicate::ReplicateError;
use rotor_replicate::fullsync::in_slice;
use rotor_testkit::{logs, moto, random_hex};

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
}

fn values(n: &Names, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            (
                n.param(&format!("svc/p{i:03}")),
                format!("v{i}-{}", random_hex(4)),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_no_change_sync_reads_pages_and_state_only_and_writes_nothing() {
    let n = Names::new();
    let ctx = n.context(&[("MAX_CONCURRENCY", "16")]).await;
    let (table, _) = n.state().await;
    let params = values(&n, 120);
    put_many(SOURCE, params.clone()).await;

    let first = invoke_ok(&ctx, full_sync()).await;
    assert!(first.complete);
    assert_eq!(first.parameters.total.copied, 240);
    let state = state_items(&table).await;
    assert_eq!(state.len(), 120, "one state item per parameter");
    assert!(
        state.values().all(|v| *v == 1),
        "the source version replicated"
    );

    let second = invoke_ok(&ctx, full_sync()).await;
    assert!(second.complete);
    assert_eq!(second.write_calls, 0, "{:?}", second.api_calls);
    assert_eq!(second.parameters.total.unchanged, 240);
    let calls = |op: &str| second.api_calls.get(op).copied().unwrap_or(0);
    // Only today's slice is compared in full, and its values are not read.
    let slice = params
        .iter()
        .filter(|(name, _)| in_slice(name, today(), 40))
        .count() as u64;
    assert_eq!(
        calls("ListTagsForResource"),
        3 * slice,
        "{:?}",
        second.api_calls
    );
    assert_eq!(calls("GetParameters") + calls("GetParameter"), 0);
    // Metadata comes in pages (moto's hold 10; AWS's 50), state 50 or more names a call.
    assert!(
        calls("DescribeParameters") <= 3 * (120 / 10 + 3),
        "{:?}",
        second.api_calls
    );
    assert!(calls("BatchGetItem") <= 3, "{:?}", second.api_calls);
    assert_eq!(
        calls("BatchWriteItem"),
        0,
        "unchanged state is not rewritten"
    );
}

#[tokio::test]
async fn only_what_changed_behind_the_state_is_read_in_full_and_written() {
    let n = Names::new();
    let ctx = n.context(&[("TAG_CHECK_DAYS", "365")]).await;
    let (table, _) = n.state().await;
    let params = values(&n, 30);
    put_many(SOURCE, params.clone()).await;
    invoke_ok(&ctx, full_sync()).await;

    let ssm = moto().ssm(SOURCE).await;
    change_values(SOURCE, &params[..2]).await;
    // Behind the function's back: a replica deleted, another overwritten.
    let (gone_west, edited_eu) = (&params[2].0, &params[3].0);
    moto()
        .ssm(WEST)
        .await
        .delete_parameter()
        .name(gone_west)
        .send()
        .await
        .unwrap();
    moto()
        .ssm(EU)
        .await
        .put_parameter()
        .name(edited_eu)
        .value("edited")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let deleted = &params[4].0;
    ssm.delete_parameter().name(deleted).send().await.unwrap();

    let report = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(
        report.api_calls.get("PutParameter"),
        Some(&6),
        "{:?}",
        report.api_calls
    );
    assert_eq!(report.api_calls.get("DeleteParameter"), Some(&2));
    assert_eq!(report.parameters.total.unchanged, 2 * 30 - 6 - 2);
    assert_eq!(read(WEST, gone_west).await.unwrap().value, params[2].1);
    assert_eq!(read(EU, edited_eu).await.unwrap().value, params[3].1);
    assert!(!exists(WEST, deleted).await && !exists(EU, deleted).await);
    let state = state_items(&table).await;
    assert_eq!(state.len(), 29, "the deleted parameter is forgotten");
    assert_eq!(state.get(&params[0].0), Some(&2));
    // All in step again: the next sync writes nothing and reads no value.
    let again = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(again.write_calls, 0, "{:?}", again.api_calls);
    assert_eq!(again.api_calls.get("GetParameters"), None);
}

#[tokio::test]
async fn a_short_deadline_hands_the_sync_on_until_it_completes_and_a_repeated_message_is_harmless()
{
    let n = Names::new();
    // Slow on purpose: one item at a time, so a 3.5 s invocation cannot do it all.
    let ctx = n.context(&[("MAX_CONCURRENCY", "1")]).await;
    let (table, queue) = n.state().await;
    let params = values(&n, 160);
    put_many(SOURCE, params.clone()).await;
    let budget = Duration::from_millis(3500);

    let first = invoke_within(&ctx, full_sync(), budget)
        .await
        .expect("first part");
    assert!(!first.complete && first.handed_over, "{first:?}");
    let mut copied = first.parameters.total.copied;
    let mut rounds = 1;
    let mut last = first;
    let mut repeated = false;
    while !last.complete {
        let events = handover_events(&queue).await;
        assert_eq!(events.len(), 1, "one message per hand-over");
        let event = events.into_iter().next().unwrap();
        last = invoke_within(&ctx, event.clone(), budget)
            .await
            .expect("a part");
        copied += last.parameters.total.copied;
        rounds += 1;
        if !repeated {
            // The same message again (SQS delivers at least once): it finds its lease
            // taken and does nothing.
            let again = invoke_within(&ctx, event, budget).await.expect("repeat");
            assert_eq!(again.mode, "ignored", "{again:?}");
            assert_eq!(again.write_calls, 0);
            assert_eq!(again.parameters.total, Default::default());
            repeated = true;
        }
        assert!(rounds < 40, "the sync makes progress");
    }
    assert!(rounds >= 3, "several hand-overs: {rounds}");
    assert_eq!(last.hand_overs, rounds - 1);
    assert_eq!(copied, 2 * 160, "every replica written once");
    assert!(
        handover_events(&queue).await.is_empty(),
        "a completed sync hands nothing on"
    );
    assert_eq!(state_items(&table).await.len(), 160);
    for (name, value) in params.iter().step_by(23) {
        for region in TARGETS {
            assert_eq!(&read(region, name).await.expect("replica").value, value);
        }
    }
    let next = invoke_ok(&ctx, full_sync()).await;
    assert!(next.complete && next.hand_overs == 0, "a new sync starts");
    assert_eq!(next.write_calls, 0);
    for (_, value) in params.iter().take(10) {
        logs::assert_absent(value, "parameter value");
    }
}

#[tokio::test]
async fn an_invocation_whose_margin_leaves_no_time_to_work_is_refused_at_start() {
    let n = Names::new();
    let ctx = n.context(&[("DEADLINE_MARGIN_SECONDS", "30")]).await;
    put(SOURCE, &n.param("p"), "v", ParameterType::String).await;
    let before = ctx.calls.total();
    let err = invoke_within(&ctx, full_sync(), Duration::from_secs(20))
        .await
        .expect_err("refused");
    assert!(matches!(err, ReplicateError::NoTime(_)), "{err}");
    assert_eq!(err.error_type(), "Rotor.Config.NoTimeToWork");
    assert!(err.to_string().contains("DEADLINE_MARGIN_SECONDS"), "{err}");
    assert_eq!(ctx.calls.total(), before, "no call made");
    // Unset, the margin is a tenth of the time: 30 s leaves 27 s to work.
    let scaled = n.context(&[]).await;
    let report = invoke_within(&scaled, full_sync(), Duration::from_secs(30))
        .await
        .expect("a 30-second invocation works");
    assert!(report.complete);
    assert_eq!(report.parameters.total.copied, 2);
}

#[tokio::test]
async fn without_a_queue_the_next_scheduled_sync_resumes_where_the_last_one_stopped() {
    let n = Names::new();
    let (table, _) = n.state().await;
    let ctx = n
        .stateless_context(&[("STATE_TABLE", &table), ("MAX_CONCURRENCY", "1")])
        .await;
    put_many(SOURCE, values(&n, 100)).await;
    let budget = Duration::from_millis(3500);
    let (mut puts, mut runs, mut sync_ids) = (0, 0, std::collections::BTreeSet::new());
    loop {
        let report = invoke_within(&ctx, full_sync(), budget)
            .await
            .expect("a run");
        puts += report.api_calls.get("PutParameter").copied().unwrap_or(0);
        sync_ids.extend(report.sync_id.clone());
        runs += 1;
        if report.complete {
            break;
        }
        assert!(report.handed_over && report.hand_overs as usize == runs);
        assert!(runs < 40, "the sync makes progress");
    }
    assert!(runs >= 2, "the deadline stopped the first run: {runs}");
    assert_eq!(sync_ids.len(), 1, "one sync, resumed: {sync_ids:?}");
    assert_eq!(puts, 2 * 100, "nothing written twice");
}

/// An SSM client on moto that counts its calls.
async fn counted_ssm(region: &str) -> (aws_sdk_ssm::Client, rotor_core::aws_calls::CallCounter) {
    let calls = rotor_core::aws_calls::CallCounter::new();
    let sdk = moto().sdk_config(region).await;
    let client = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    (client, calls)
}

#[tokio::test]
async fn a_lookup_by_name_stops_once_every_name_is_found_and_pages_on_while_one_is_missing() {
    use rotor_replicate::params::read;
    let n = Names::new();
    let params = values(&n, read::PAGE);
    put_many(WEST, params.clone()).await;
    let names: Vec<String> = params.iter().map(|(name, _)| name.clone()).collect();
    let (ssm, calls) = counted_ssm(WEST).await;

    // The server's page size: stock moto answers 10 a page whatever MaxResults asks, AWS
    // (and the test kit's aws_pages.py) up to 50. Either way every page of the 50 is full and
    // carries a NextToken, and the empty page after the last is not asked for.
    let page = ssm
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .set_values(Some(names.clone()))
                .build()
                .unwrap(),
        )
        .max_results(read::PAGE as i32)
        .send()
        .await
        .unwrap()
        .parameters()
        .len();
    assert!(
        page > 0 && read::PAGE.is_multiple_of(page),
        "page size {page}"
    );
    let before = calls.snapshot();
    let found = read::describe_names(&ssm, &names).await.unwrap();
    assert_eq!(found.len(), read::PAGE);
    let describes = |before| {
        rotor_core::aws_calls::CallCounter::count_of(&calls.since(before), &["DescribeParameters"])
            as usize
    };
    assert_eq!(describes(&before), read::PAGE / page);

    // Twelve of fifteen exist: the pages are read to the end (stock moto: 10, then 2).
    let mut some = names[..12].to_vec();
    some.extend((0..3).map(|i| n.param(&format!("svc/missing{i}"))));
    let before = calls.snapshot();
    let found = read::describe_names(&ssm, &some).await.unwrap();
    assert_eq!(found.len(), 12);
    assert_eq!(describes(&before), 12usize.div_ceil(page));
}
