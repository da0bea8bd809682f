//! The fake as a store: writes are kept, every documented filter and `sort` is honoured in pages,
//! summaries and export files, nested lists serve their parent's rows, and seeded rows link to
//! rows that exist (so joins of exports give what the fake itself answers).

use std::collections::BTreeMap;

use futures::TryStreamExt;
use mangrove::prelude::*;
use mangrove::testing::{Collection, FakeMangrove, Schedule, TokenKind};
use mangrove::ExportFormat;
use serde_json::{json, Value};

#[path = "common/fake.rs"]
mod fake;
use fake::quick;

/// `GET {base}{path}` with the account token: the status and the JSON body.
async fn get(fake: &FakeMangrove, path: &str) -> (u16, Value) {
    send(fake, reqwest::Method::GET, path, None).await
}

async fn send(
    fake: &FakeMangrove,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .header("authorization", fake.token(TokenKind::Account));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every row of a list (one page of 100: the fakes here have fewer rows).
async fn all(fake: &FakeMangrove, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, body) = get(fake, &format!("{path}{sep}page_size=100")).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(body["info"]["total_items"].as_u64().unwrap() <= 100);
    body["data"].as_array().unwrap().clone()
}

fn ids(rows: &[Value]) -> Vec<Value> {
    rows.iter().map(|r| r["id"].clone()).collect()
}

#[tokio::test]
async fn created_and_updated_objects_are_what_later_reads_return() {
    let fake = FakeMangrove::start().await;
    let before = fake.rows(Collection::Events);

    // Create an event in project 3, with an event type of that project.
    let (_, types) = get(&fake, "/projects/3/event_types").await;
    let event_type = types["data"][0].clone();
    let (status, created) = send(
        &fake,
        reqwest::Method::POST,
        "/projects/3/events",
        Some(json!({"event": {
            "event_type": event_type["slug"],
            "start_time": "2025-03-01T08:00:00Z",
            "end_time": "2025-03-01T09:00:00Z",
            "tracking_id": "TRK-1",
            "notes": "kept",
        }})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["event_type"], event_type["name"]);
    assert_eq!(created["tracking_id"], json!("TRK-1"));
    assert_eq!(fake.rows(Collection::Events), before + 1);
    assert_eq!(
        fake.row(Collection::Events, before).map(Value::Object),
        Some(created.clone())
    );

    // Read back: single GET, the project's list, a filter, a summary.
    assert_eq!(
        get(&fake, &format!("/projects/3/events/{id}")).await,
        (200, created.clone())
    );
    assert_eq!(get(&fake, &format!("/projects/4/events/{id}")).await.0, 404);
    let listed = all(&fake, "/projects/3/events").await;
    assert_eq!(listed.last(), Some(&created));
    assert!(!ids(&all(&fake, "/projects/4/events").await).contains(&json!(id)));
    let found = all(&fake, "/projects/3/events?filter[tracking_id][eq]=TRK-1").await;
    assert_eq!(found, vec![created.clone()]);
    let (_, summary) = get(&fake, "/projects/3/events?response_mode=summary").await;
    assert_eq!(summary["count"], json!(listed.len()));

    // Update it: the update is what everything returns from then on.
    let (status, updated) = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/projects/3/events/{id}"),
        Some(json!({"event": {"tracking_id": "TRK-2"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["tracking_id"], json!("TRK-2"));
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(
        get(&fake, &format!("/projects/3/events/{id}")).await.1,
        updated
    );
    assert!(
        all(&fake, "/projects/3/events?filter[tracking_id][eq]=TRK-1")
            .await
            .is_empty()
    );

    // Seeded objects too: a renamed ledger is renamed in reads, pages and exports.
    let ledger = fake.row(Collection::Ledgers, 2).unwrap();
    let ledger_id = ledger["id"].as_str().unwrap();
    let (status, renamed) = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/ledgers/{ledger_id}"),
        Some(json!({"ledger": {"name": "Renamed ledger"}})),
    )
    .await;
    if ledger["system_ledger_type"].is_null() {
        assert_eq!(status, 200);
        assert_eq!(
            get(&fake, &format!("/ledgers/{ledger_id}")).await.1,
            renamed
        );
        assert_eq!(all(&fake, "/ledgers").await[2], renamed);
    } else {
        assert_eq!(status, 422, "system ledgers cannot be updated");
    }

    // New integer ids continue the seeded ones.
    let (status, new_type) = send(
        &fake,
        reqwest::Method::POST,
        "/projects/3/event_types",
        Some(json!({"event_type": {"name": "Soil sample"}})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(new_type["id"], json!(fake.rows(Collection::EventTypes)));
    assert_eq!(
        all(&fake, "/projects/3/event_types").await.last(),
        Some(&new_type)
    );

    // reset: back to the seeded rows.
    fake.reset();
    assert_eq!(fake.rows(Collection::Events), before);
    assert_eq!(get(&fake, &format!("/projects/3/events/{id}")).await.0, 404);
    assert_eq!(
        get(&fake, &format!("/ledgers/{ledger_id}")).await.1,
        Value::Object(ledger)
    );
}

/// For each documented filter: the filtered page is exactly the unfiltered rows that match,
/// the summary counts them, and `info.filter` echoes the filter.
#[tokio::test]
async fn every_documented_filter_selects_exactly_the_matching_rows() {
    let fake = FakeMangrove::builder().default_rows(60).start().await;
    let ledger = fake.row(Collection::Ledgers, 1).unwrap()["id"].clone();
    let ledger = ledger.as_str().unwrap();
    let nested = format!("/ledgers/{ledger}/batches");
    let field = |c: Collection, i: u64, f: &str| fake.row(c, i).unwrap()[f].clone();
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let ledger_batch = all(&fake, &nested).await[0].clone();
    let project_of_batch = |row: &Value| row["feedstocks"][0]["project_id"].clone();
    let created = text(field(Collection::Feedstocks, 20, "created_at"));

    // (list path, filter, value, predicate on a row of the unfiltered list)
    type Check<'a> = (String, &'a str, String, Box<dyn Fn(&Value) -> bool + 'a>);
    let eq = |f: &'static str, v: Value| -> Box<dyn Fn(&Value) -> bool> {
        Box::new(move |row: &Value| row[f] == v)
    };
    let event = fake.row(Collection::Events, 1).unwrap();
    let checks: Vec<Check> = vec![
        (
            "/projects/2/events".into(),
            "filter[id][eq]",
            text(event["id"].clone()),
            eq("id", event["id"].clone()),
        ),
        (
            "/projects/2/events".into(),
            "filter[status][eq]",
            "complete".into(),
            eq("status", json!("complete")),
        ),
        (
            "/projects/2/events".into(),
            "filter[tracking_id][eq]",
            text(event["tracking_id"].clone()),
            eq("tracking_id", event["tracking_id"].clone()),
        ),
        (
            "/batches".into(),
            "filter[project_id][eq]",
            "7".into(),
            Box::new(move |r: &Value| project_of_batch(r) == json!(7)),
        ),
        (
            "/batches".into(),
            "filter[id][eq]",
            text(field(Collection::Batches, 5, "id")),
            eq("id", field(Collection::Batches, 5, "id")),
        ),
        (
            "/batches".into(),
            "filter[state][eq]",
            "complete".into(),
            eq("state", json!("complete")),
        ),
        (
            nested.clone(),
            "filter[id][eq]",
            text(ledger_batch["id"].clone()),
            eq("id", ledger_batch["id"].clone()),
        ),
        (
            nested.clone(),
            "filter[state][eq]",
            text(ledger_batch["state"].clone()),
            eq("state", ledger_batch["state"].clone()),
        ),
        (
            nested.clone(),
            "filter[tracking_id][eq]",
            text(ledger_batch["tracking_id"].clone()),
            eq("tracking_id", ledger_batch["tracking_id"].clone()),
        ),
        (
            nested.clone(),
            "filter[friendly_id][eq]",
            text(ledger_batch["id"].clone()),
            eq("id", ledger_batch["id"].clone()),
        ),
        (
            "/feedstocks".into(),
            "filter[project_id][eq]",
            "4".into(),
            eq("project_id", json!(4)),
        ),
        (
            "/feedstocks".into(),
            "filter[feedstock_type_id][eq]",
            "3".into(),
            eq("feedstock_type_id", json!(3)),
        ),
        (
            "/feedstocks".into(),
            "filter[name][eq]",
            text(field(Collection::Feedstocks, 9, "name")),
            eq("name", field(Collection::Feedstocks, 9, "name")),
        ),
        (
            "/feedstocks".into(),
            "filter[created_at][geq]",
            created.clone(),
            Box::new(|r: &Value| r["created_at"].as_str().unwrap() >= created.as_str()),
        ),
        (
            "/feedstocks".into(),
            "filter[created_at][leq]",
            created.clone(),
            Box::new(|r: &Value| r["created_at"].as_str().unwrap() <= created.as_str()),
        ),
        (
            "/reports".into(),
            "filter[project_id][eq]",
            "5".into(),
            eq("project_id", json!(5)),
        ),
        (
            "/reports".into(),
            "filter[status][eq]",
            "draft".into(),
            eq("status", json!("draft")),
        ),
    ];
    for (path, filter, value, matches) in &checks {
        let unfiltered = all(&fake, path).await;
        let expected: Vec<Value> = unfiltered.iter().filter(|r| matches(r)).cloned().collect();
        assert!(
            !expected.is_empty(),
            "{path} {filter}={value}: pick a value that matches"
        );
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let query = format!("{path}?{filter}={encoded}");
        let (status, page) = get(&fake, &format!("{query}&page_size=100")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["data"], Value::Array(expected.clone()), "{query}");
        assert_eq!(
            page["info"]["total_items"],
            json!(expected.len()),
            "{query}"
        );
        let field = filter
            .trim_start_matches("filter[")
            .split(']')
            .next()
            .unwrap();
        let operator = filter.rsplit('[').next().unwrap().trim_end_matches(']');
        assert_eq!(
            page["info"]["filter"],
            json!([{"field": field, "operator": operator, "value": value}]),
            "{query}"
        );
        let (_, summary) = get(&fake, &format!("{query}&response_mode=summary")).await;
        assert_eq!(summary["count"], json!(expected.len()), "{query}");
        let samples: Vec<Value> = expected.iter().take(10).cloned().collect();
        assert_eq!(summary["samples"], Value::Array(samples), "{query}");
    }

    // Models have no project field: the filter follows the project they belong to.
    let models = all(&fake, "/models?filter[project_id][eq]=2").await;
    assert_eq!(models.len(), 1);
    assert_eq!(Some(&models[0]), all(&fake, "/models").await.get(1));

    // Filters combine (AND), and a value that matches nothing is an empty list.
    let both = all(
        &fake,
        "/reports?filter[project_id][eq]=5&filter[status][eq]=complete",
    )
    .await;
    assert!(both
        .iter()
        .all(|r| r["project_id"] == json!(5) && r["status"] == json!("complete")));
    assert!(all(&fake, "/batches?filter[state][eq]=nope")
        .await
        .is_empty());
    // Undeclared filters and mistyped values are refused, not ignored.
    assert_eq!(get(&fake, "/projects?filter[name][eq]=x").await.0, 400);
    assert_eq!(get(&fake, "/batches?filter[project_id][eq]=x").await.0, 400);
}

#[tokio::test]
async fn sort_orders_pages_and_is_echoed() {
    let fake = FakeMangrove::builder().default_rows(30).start().await;
    let unsorted = all(&fake, "/batches").await;
    let mut expected = unsorted.clone();
    // Descending start time, then ascending id among equal start times.
    expected.sort_by(|a, b| {
        let (sa, sb) = (a["start_time"].as_str(), b["start_time"].as_str());
        sb.cmp(&sa).then(a["id"].as_str().cmp(&b["id"].as_str()))
    });
    let (status, page) = get(
        &fake,
        "/batches?sort=-start_time,id,no_such_field&page_size=100",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"], Value::Array(expected.clone()));
    assert_eq!(
        page["info"]["sort"],
        json!([{"field":"start_time","direction":"desc"},{"field":"id","direction":"asc"}])
    );
    // Pages follow the sort; the summary's samples too.
    let (_, second) = get(&fake, "/batches?sort=-start_time,id&page=2&page_size=7").await;
    assert_eq!(second["data"], Value::Array(expected[7..14].to_vec()));
    let (_, summary) = get(&fake, "/batches?sort=-start_time,id&response_mode=summary").await;
    assert_eq!(summary["samples"], Value::Array(expected[..10].to_vec()));
    // Numbers sort numerically.
    let by_type = all(&fake, "/feedstocks?sort=-feedstock_type_id").await;
    let types: Vec<u64> = by_type
        .iter()
        .map(|r| r["feedstock_type_id"].as_u64().unwrap())
        .collect();
    assert!(types.windows(2).all(|w| w[0] >= w[1]), "{types:?}");
    assert_eq!(get(&fake, "/batches").await.1["info"]["sort"], json!([]));
}

#[tokio::test]
async fn nested_lists_serve_their_parents_rows_and_unknown_parents_are_404() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Projects, 5)
        .default_rows(23)
        .start()
        .await;
    // Every event is listed under exactly one project.
    let mut seen = Vec::new();
    for project in 1..=5 {
        let events = all(&fake, &format!("/projects/{project}/events")).await;
        assert!(!events.is_empty());
        for event in &events {
            let (status, _) = get(
                &fake,
                &format!(
                    "/projects/{project}/events/{}",
                    event["id"].as_str().unwrap()
                ),
            )
            .await;
            assert_eq!(status, 200);
        }
        seen.extend(ids(&events));
    }
    seen.sort_by_key(Value::to_string);
    seen.dedup();
    assert_eq!(seen.len() as u64, fake.rows(Collection::Events));

    // Other nested lists: only the parent's rows, which differ between parents.
    let ledger = |i| {
        fake.row(Collection::Ledgers, i).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = all(&fake, &format!("/ledgers/{}/batches", ledger(0))).await;
    let b = all(&fake, &format!("/ledgers/{}/batches", ledger(1))).await;
    assert!(!a.is_empty() && !b.is_empty());
    assert!(ids(&a).iter().all(|id| !ids(&b).contains(id)));
    let (_, summary) = get(
        &fake,
        &format!("/ledgers/{}/batches?response_mode=summary", ledger(0)),
    )
    .await;
    assert_eq!(summary["count"], json!(a.len()));

    for path in [
        "/projects/6/events",
        "/projects/999/event_types",
        "/projects/0/data_points",
        "/ledgers/lgr_0000000000000000/batches",
        "/batches/bat_nope/evidences",
        "/models/mdl_nope/model_runs",
    ] {
        let (status, body) = get(&fake, path).await;
        assert_eq!(
            (status, body),
            (404, json!({"message": "Record not found."})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn seeded_rows_link_to_rows_that_exist() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Projects, 7)
        .default_rows(40)
        .start()
        .await;
    let projects = fake.rows(Collection::Projects);
    let feedstocks = all(&fake, "/feedstocks").await;
    for batch in all(&fake, "/batches").await {
        let links = batch["feedstocks"].as_array().unwrap();
        assert_eq!(links.len(), 1, "{batch}");
        // The embedded feedstock is the feedstock row itself.
        let id = links[0]["id"].as_u64().unwrap();
        assert_eq!(links[0], feedstocks[id as usize - 1]);
    }
    for (collection, path) in [
        (Collection::Feedstocks, "/feedstocks"),
        (Collection::Reports, "/reports"),
        (Collection::TrackingUnits, "/tracking_units"),
    ] {
        for row in all(&fake, path).await {
            let project = row["project_id"].as_u64().unwrap();
            assert!((1..=projects).contains(&project), "{collection:?} {row}");
        }
    }
    // Every event's type is one of its project's event types.
    for project in 1..=projects {
        let types = all(&fake, &format!("/projects/{project}/event_types")).await;
        let slugs: Vec<&Value> = types.iter().map(|t| &t["slug"]).collect();
        for event in all(&fake, &format!("/projects/{project}/events")).await {
            assert!(slugs.contains(&&event["slug"]), "{event} not in {slugs:?}");
        }
    }
}

/// A filtered, sorted export file holds exactly the rows the filtered list answers, in order;
/// it is taken when the export starts (later writes are not in it).
#[tokio::test]
async fn a_filtered_export_holds_exactly_the_filtered_rows() {
    let fake = FakeMangrove::builder()
        .default_rows(80)
        .schedule(Schedule::AfterPolls(1))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(quick())
        .build()
        .unwrap();
    let expected = all(
        &fake,
        "/batches?filter[state][eq]=complete&filter[project_id][eq]=3&sort=-created_at",
    )
    .await;
    assert!(!expected.is_empty());
    for format in [ExportFormat::Json, ExportFormat::Csv] {
        let (summary, export) = client
            .list_batches()
            .filter_state_eq("complete")
            .filter_project_id_eq(3)
            .sort("-created_at")
            .summary_with_export()
            .format(format.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(summary.count, expected.len() as u64);
        let completed = export.await.unwrap();
        let rows: Vec<Value> = completed
            .records::<Value>()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids(&rows), ids(&expected), "{format:?}");
        if format == ExportFormat::Json {
            assert_eq!(rows, expected);
        }
    }
    // POST /exports has no filters: the whole collection.
    let whole = client
        .export_resource(mangrove::ResourceType::Feedstock)
        .format(ExportFormat::Json)
        .send()
        .await
        .unwrap()
        .await
        .unwrap();
    let rows: Vec<Value> = whole
        .records::<Value>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len() as u64, fake.rows(Collection::Feedstocks));
}

/// Batches per project computed from two export files (batches → feedstock → project) equal
/// what the fake answers to `list_batches` filtered by project.
#[tokio::test]
async fn a_join_of_two_exports_matches_the_fakes_own_answer() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Projects, 9)
        .rows(Collection::Feedstocks, 20)
        .rows(Collection::Batches, 100)
        .schedule(Schedule::AfterPolls(1))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(quick())
        .build()
        .unwrap();
    let export = |resource| {
        let client = client.clone();
        async move {
            let done = client
                .export_resource(resource)
                .format(ExportFormat::Json)
                .send()
                .await
                .unwrap()
                .await
                .unwrap();
            let rows: Vec<Value> = done
                .records::<Value>()
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            rows
        }
    };
    let (batches, feedstocks) = tokio::join!(
        export(mangrove::ResourceType::Batch),
        export(mangrove::ResourceType::Feedstock)
    );
    let project_of_feedstock: BTreeMap<u64, u64> = feedstocks
        .iter()
        .map(|f| (f["id"].as_u64().unwrap(), f["project_id"].as_u64().unwrap()))
        .collect();
    let mut per_project: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for batch in &batches {
        let feedstock = batch["feedstocks"][0]["id"].as_u64().unwrap();
        per_project
            .entry(project_of_feedstock[&feedstock])
            .or_default()
            .push(batch["id"].as_str().unwrap().to_string());
    }
    assert_eq!(per_project.len(), 9, "every project has batches");
    for (project, joined) in &per_project {
        let answered: Vec<String> = client
            .list_batches()
            .filter_project_id_eq(*project as i64)
            .items()
            .map_ok(|b| b.id)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(&answered, joined, "project {project}");
    }
}

#[tokio::test]
async fn simulate_refuses_inputs_with_a_non_finite_result() {
    let fake = FakeMangrove::start().await;
    let model = fake.row(Collection::Models, 0).unwrap()["id"].clone();
    let body = |x: f64| json!({"inputs": {"a": x, "b": x}, "start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z"});
    let path = format!("/models/{}/simulate", model.as_str().unwrap());
    let (status, ok) = send(&fake, reqwest::Method::POST, &path, Some(body(10.0))).await;
    assert_eq!(status, 200);
    assert_eq!(ok["results"]["net-carbon-removal"], json!(10.0));
    let (status, refused) = send(&fake, reqwest::Method::POST, &path, Some(body(f64::MAX))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("finite"));
}
