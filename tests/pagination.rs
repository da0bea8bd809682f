//! Every list as a stream: pages fetched lazily, stopping at the last page.

use futures::{StreamExt, TryStreamExt};
use mangrove::prelude::*;
use mangrove::testing::{Collection, Fault, TokenKind};
use mangrove::types::Batch;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "common/fake.rs"]
mod fake;
use fake::fake_rows;

// 0, 1 and 2500 items: the stream yields exactly the rows, in order, in ceil(n/page_size) pages.
#[tokio::test]
async fn streams_zero_one_and_many_items() {
    for (rows, page_size, pages) in [
        (0u64, 100i64, 1usize),
        (1, 100, 1),
        (2_500, 100, 25),
        (2_500, 7, 358),
    ] {
        let fake = fake_rows(Collection::Batches, rows).await;
        let client = fake.client(TokenKind::Account);
        let items: Vec<Batch> = client
            .list_batches()
            .page_size(page_size)
            .items()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            items.len() as u64,
            rows,
            "rows={rows} page_size={page_size}"
        );
        for (i, item) in items.iter().enumerate() {
            let expected = mangrove::testing::data::row(Collection::Batches, i as u64);
            assert_eq!(Some(item.id.as_str()), expected["id"].as_str());
        }
        let journal = fake.journal();
        let requests = journal.requests_to("list_batches");
        assert_eq!(requests.len(), pages, "rows={rows} page_size={page_size}");
        for (i, r) in requests.iter().enumerate() {
            assert_eq!(r.query_param("page"), Some((i + 1).to_string()));
            assert_eq!(r.query_param("page_size"), Some(page_size.to_string()));
            assert_eq!(r.query_param("response_mode").as_deref(), Some("default"));
        }
    }
}

// Pages are fetched lazily: taking 3 items fetches one page.
#[tokio::test]
async fn pages_are_fetched_lazily() {
    let fake = fake_rows(Collection::Projects, 1_000).await;
    let client = fake.client(TokenKind::Account);
    let first: Vec<_> = client
        .list_projects()
        .page_size(10)
        .items()
        .take(3)
        .collect()
        .await;
    assert_eq!(first.len(), 3);
    assert_eq!(fake.journal().requests_to("list_projects").len(), 1);
}

// Filters set on the builder are sent with every page.
#[tokio::test]
async fn filters_apply_to_every_page() {
    // One project: all 30 batches are its own, so the honoured filter keeps every row.
    let fake = mangrove::testing::FakeMangrove::builder()
        .rows(Collection::Batches, 30)
        .rows(Collection::Projects, 1)
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let n = client
        .list_batches()
        .filter_project_id_eq(1)
        .page_size(10)
        .items()
        .count()
        .await;
    assert_eq!(n, 30);
    for r in fake.journal().requests_to("list_batches") {
        assert_eq!(
            r.query_param("filter[project_id][eq]").as_deref(),
            Some("1")
        );
    }
}

// 503 twice, then OK: the GET is retried and the stream completes.
#[tokio::test(start_paused = true)]
async fn transient_503_mid_stream_is_retried() {
    let fake = fake_rows(Collection::Batches, 50).await;
    let client = fake.client(TokenKind::Account);
    let mut stream = client.list_batches().page_size(10).items();
    let mut got = Vec::new();
    for _ in 0..15 {
        got.push(stream.next().await.unwrap().unwrap());
    }
    fake.inject(Fault::on("list_batches").times(2).status(503));
    while let Some(item) = stream.next().await {
        got.push(item.unwrap());
    }
    assert_eq!(got.len(), 50);
    let journal = fake.journal();
    assert_eq!(journal.requests_with_status(503).len(), 2);
}

// A remaining error ends the stream with that error (status kept).
#[tokio::test(start_paused = true)]
async fn permanent_error_ends_the_stream() {
    let fake = fake_rows(Collection::Batches, 50).await;
    let client = fake.client(TokenKind::Account);
    fake.inject(Fault::on("list_batches").times(10).status(500).html_body());
    let result: Result<Vec<Batch>, _> = client.list_batches().items().try_collect().await;
    assert_eq!(result.unwrap_err().status().map(|s| s.as_u16()), Some(500));
}

fn batch(id: usize) -> serde_json::Value {
    serde_json::json!({"id": format!("bat_{id}"), "state": "complete"})
}

async fn mock_page(server: &MockServer, page: &str, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/batches"))
        .and(query_param("page", page))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

fn client_for(server: &MockServer) -> mangrove::Client {
    mangrove::Client::builder()
        .token("t")
        .base_url(server.uri())
        .build()
        .unwrap()
}

// Without `info`, the stream stops on a page shorter than the first.
#[tokio::test]
async fn without_info_a_short_page_is_the_last() {
    let server = MockServer::start().await;
    mock_page(
        &server,
        "1",
        serde_json::json!({"data": [batch(1), batch(2), batch(3)]}),
    )
    .await;
    mock_page(
        &server,
        "2",
        serde_json::json!({"data": [batch(4), batch(5), batch(6)]}),
    )
    .await;
    mock_page(&server, "3", serde_json::json!({"data": [batch(7)]})).await;
    let items: Vec<Batch> = client_for(&server)
        .list_batches()
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 7);
}

// Without `info`, an empty page ends the stream.
#[tokio::test]
async fn without_info_an_empty_page_is_the_end() {
    let server = MockServer::start().await;
    mock_page(
        &server,
        "1",
        serde_json::json!({"data": [batch(1), batch(2)]}),
    )
    .await;
    mock_page(&server, "2", serde_json::json!({"data": []})).await;
    let items: Vec<Batch> = client_for(&server)
        .list_batches()
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
}

// A page shorter than page_size but with next_page set is not the end: next_page rules.
#[tokio::test]
async fn next_page_is_followed_even_after_a_short_page() {
    let server = MockServer::start().await;
    let info = |cur: i64, next: Option<i64>| serde_json::json!({"current_page": cur, "next_page": next, "total_pages": 3});
    mock_page(
        &server,
        "1",
        serde_json::json!({"data": [batch(1), batch(2)], "info": info(1, Some(2))}),
    )
    .await;
    mock_page(
        &server,
        "2",
        serde_json::json!({"data": [batch(3)], "info": info(2, Some(3))}),
    )
    .await;
    mock_page(
        &server,
        "3",
        serde_json::json!({"data": [batch(4), batch(5)], "info": info(3, None)}),
    )
    .await;
    let items: Vec<Batch> = client_for(&server)
        .list_batches()
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        ["bat_1", "bat_2", "bat_3", "bat_4", "bat_5"]
    );
}

// A next_page that does not move forward cannot loop the stream forever.
#[tokio::test]
async fn non_advancing_next_page_stops() {
    let server = MockServer::start().await;
    mock_page(
        &server,
        "1",
        serde_json::json!({"data": [batch(1)], "info": {"next_page": 1}}),
    )
    .await;
    let items: Vec<Batch> = client_for(&server)
        .list_batches()
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
}

// `.pages()` yields whole pages (items + info), one request each; `.items()` the same rows
// flattened.
#[tokio::test]
async fn pages_yield_pages_and_items_yield_items() {
    let fake = fake_rows(Collection::Batches, 25).await;
    let client = fake.client(TokenKind::Account);
    let pages: Vec<mangrove::Page<Batch>> = client
        .list_batches()
        .page_size(10)
        .pages()
        .try_collect()
        .await
        .unwrap();
    let lens: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(lens, [10, 10, 5]);
    let current: Vec<Option<i64>> = pages
        .iter()
        .map(|p| p.info.as_ref().and_then(|i| i.current_page))
        .collect();
    assert_eq!(current, [Some(1), Some(2), Some(3)]);
    let items: Vec<Batch> = client
        .list_batches()
        .page_size(10)
        .items()
        .try_collect()
        .await
        .unwrap();
    let flattened: Vec<Batch> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(items, flattened);
}

/// What generic code over any list can do: the trait methods by their names. Boxed as a `Send`
/// future here, in the generic function, so that it can be spawned (rust-lang/rust#100013: an
/// `async fn` generic over `R` is not provably `Send` at a concrete call site).
fn count_three_ways<'a, R: ListRequest<'a>>(
    request: R,
) -> futures::future::BoxFuture<'a, (u64, usize, usize)> {
    Box::pin(async move {
        let summary = request.clone().summary().await.unwrap();
        let items: Vec<R::Item> = request.clone().items().try_collect().await.unwrap();
        let pages = request.pages().try_collect::<Vec<_>>().await.unwrap();
        (summary.count, items.len(), pages.len())
    })
}

// `.summary()`, `.items()` and `.pages()` are callable on `R: ListRequest`, and the futures and
// streams they give are `Send + 'static` with a `'static` client: they can be spawned.
#[tokio::test]
async fn generic_code_calls_the_trait_methods_and_spawns_them() {
    let fake = fake_rows(Collection::Ledgers, 12).await;
    let client: &'static mangrove::Client = Box::leak(Box::new(fake.client(TokenKind::Account)));
    assert_eq!(
        count_three_ways(client.list_ledgers().page_size(5)).await,
        (12, 12, 3)
    );
    let spawned = tokio::spawn(count_three_ways(client.list_ledgers().page_size(5)));
    assert_eq!(spawned.await.unwrap(), (12, 12, 3));
    let summary = tokio::spawn(client.list_ledgers().summary());
    assert_eq!(summary.await.unwrap().unwrap().count, 12);
    let items = tokio::spawn(client.list_ledgers().items().try_collect::<Vec<_>>());
    assert_eq!(items.await.unwrap().unwrap().len(), 12);
    let pages = tokio::spawn(
        client
            .list_ledgers()
            .page_size(5)
            .pages()
            .try_collect::<Vec<_>>(),
    );
    assert_eq!(pages.await.unwrap().unwrap().len(), 3);
}
