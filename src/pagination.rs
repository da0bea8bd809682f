//! Every list as a stream: `.items()` yields the items, `.pages()` the pages.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use mangrove::prelude::*;
//! # async fn run(client: mangrove::Client) -> Result<(), mangrove::Error> {
//! let batches: Vec<mangrove::types::Batch> = client.list_batches().items().try_collect().await?;
//! let first_page = client.list_projects().pages().try_next().await?;
//! # Ok(()) }
//! ```
//!
//! Pages are fetched lazily, one request at a time. The stream ends after the page whose
//! `info.next_page` is null (without `next_page`: the page that reaches `info.total_pages`;
//! without `info`: an empty page or one shorter than the first), or when `next_page` does not
//! move forward. An error is yielded and ends the stream.

//!
//! This module knows nothing of the list traits: [`ListRequest`](crate::ListRequest) hands it a
//! closure that fetches page `n`, so it sits below `resource` in the module layers.

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::error::Error;
use crate::summary::{ListBody, Page};
use crate::types::PageInfo;

/// A stream of every item of a list, page after page: what
/// [`ListRequest::items`](crate::ListRequest::items) answers. See the [module docs](self).
pub type Items<'a, T> = BoxStream<'a, Result<T, Error>>;

/// A stream of the [`Page`]s of a list (items and pagination info), one request each: what
/// [`ListRequest::pages`](crate::ListRequest::pages) answers. See the [module docs](self).
pub type Pages<'a, T> = BoxStream<'a, Result<Page<T>, Error>>;

/// The items of a list, page after page; `fetch` answers page `n` (from 1).
pub(crate) fn items<'a, T, F>(fetch: F) -> Items<'a, T>
where
    T: Send + 'a,
    F: Fn(i64) -> BoxFuture<'a, Result<ListBody<T>, Error>> + Send + Sync + 'a,
{
    pages(fetch)
        .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

struct Cursor<F> {
    fetch: F,
    next: Option<i64>,
    first_len: Option<usize>,
}

/// The pages of a list as a stream of [`Page`]s; `fetch` answers page `n` (from 1).
pub(crate) fn pages<'a, T, F>(fetch: F) -> Pages<'a, T>
where
    T: Send + 'a,
    F: Fn(i64) -> BoxFuture<'a, Result<ListBody<T>, Error>> + Send + Sync + 'a,
{
    let start = Cursor {
        fetch,
        next: Some(1),
        first_len: None,
    };
    futures::stream::try_unfold(start, |cursor| async move {
        let Some(page_no) = cursor.next else {
            return Ok(None);
        };
        let page = (cursor.fetch)(page_no).await?.into_page();
        let n = page.items.len();
        let next = next_page(page_no, n, page.info.as_ref(), cursor.first_len);
        let first_len = cursor.first_len.or(Some(n));
        Ok(Some((
            page,
            Cursor {
                fetch: cursor.fetch,
                next,
                first_len,
            },
        )))
    })
    .boxed()
}

/// The page to fetch after page `page_no`, which held `n` items (`first_len`: how many the first
/// page held), or `None` when the list has ended.
///
/// Why each rule: an empty page ends the list whatever `info` says (a server that keeps
/// answering empty pages with a `next_page` would otherwise loop forever); `next_page` is
/// followed only forward (a `next_page` that does not grow would loop); without `next_page`,
/// `total_pages` bounds the walk; without any `info` (the docs do not promise it on every list),
/// a page shorter than the first is taken as the last.
fn next_page(
    page_no: i64,
    n: usize,
    info: Option<&PageInfo>,
    first_len: Option<usize>,
) -> Option<i64> {
    if n == 0 {
        return None;
    }
    match info {
        Some(info) => match info.next_page {
            Some(next) if next > page_no => Some(next),
            Some(_) => None,
            None => info
                .total_pages
                .filter(|total| page_no < *total)
                .map(|_| page_no + 1),
        },
        None if first_len.is_some_and(|full| n < full) => None,
        None => page_no.checked_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::next_page;
    use crate::types::PageInfo;

    fn info(next_page: Option<i64>, total_pages: Option<i64>) -> PageInfo {
        serde_json::from_value(serde_json::json!({
            "next_page": next_page,
            "total_pages": total_pages,
        }))
        .expect("PageInfo has only optional fields")
    }

    #[test]
    fn an_empty_page_ends_the_list_whatever_info_says() {
        assert_eq!(next_page(1, 0, Some(&info(Some(2), Some(9))), None), None);
        assert_eq!(next_page(3, 0, None, Some(10)), None);
    }

    #[test]
    fn next_page_is_followed_only_forward() {
        assert_eq!(next_page(1, 10, Some(&info(Some(2), None)), None), Some(2));
        assert_eq!(next_page(1, 10, Some(&info(Some(5), None)), None), Some(5));
        assert_eq!(next_page(2, 10, Some(&info(Some(2), None)), Some(10)), None);
        assert_eq!(next_page(3, 10, Some(&info(Some(1), None)), Some(10)), None);
    }

    #[test]
    fn without_next_page_total_pages_bounds_the_walk() {
        assert_eq!(next_page(1, 10, Some(&info(None, Some(3))), None), Some(2));
        assert_eq!(next_page(3, 10, Some(&info(None, Some(3))), Some(10)), None);
        assert_eq!(next_page(1, 10, Some(&info(None, None)), None), None);
    }

    #[test]
    fn without_info_a_short_page_is_the_last() {
        assert_eq!(next_page(1, 10, None, None), Some(2));
        assert_eq!(next_page(2, 10, None, Some(10)), Some(3));
        assert_eq!(next_page(2, 4, None, Some(10)), None);
        assert_eq!(next_page(i64::MAX, 10, None, Some(10)), None);
    }
}
