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

use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::error::Error;
use crate::resource::{fetch, ListRequest, Query};
use crate::summary::Page;
use crate::types::ResponseMode;

/// A stream of every item of a list, page after page: what [`ListRequest::items`] answers. See
/// the [module docs](self).
pub type Items<'a, T> = BoxStream<'a, Result<T, Error>>;

/// A stream of the [`Page`]s of a list (items and pagination info), one request each: what
/// [`ListRequest::pages`] answers. See the [module docs](self).
pub type Pages<'a, T> = BoxStream<'a, Result<Page<T>, Error>>;

/// The items of a list request, page after page.
pub(crate) fn items<'a, R: ListRequest<'a>>(request: R) -> Items<'a, R::Item> {
    pages(request)
        .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

struct Cursor<R> {
    request: R,
    next: Option<i64>,
    first_len: Option<usize>,
}

/// The pages of a list request, as a stream of [`Page`]s.
pub(crate) fn pages<'a, R: ListRequest<'a>>(request: R) -> Pages<'a, R::Item> {
    let start = Cursor {
        request,
        next: Some(1),
        first_len: None,
    };
    futures::stream::try_unfold(start, |cursor| async move {
        let Some(page_no) = cursor.next else {
            return Ok(None);
        };
        let query = Query {
            mode: ResponseMode::Default,
            page: Some(page_no),
            format: None,
        };
        let body = fetch(cursor.request.clone(), query).await?;
        let page = body.into_page();
        let n = page.items.len();
        let next = if n == 0 {
            None
        } else {
            match &page.info {
                Some(info) => match info.next_page {
                    Some(next) if next > page_no => Some(next),
                    Some(_) => None,
                    None => info
                        .total_pages
                        .filter(|total| page_no < *total)
                        .map(|_| page_no + 1),
                },
                None if cursor.first_len.is_some_and(|full| n < full) => None,
                None => Some(page_no + 1),
            }
        };
        let first_len = cursor.first_len.or(Some(n));
        Ok(Some((
            page,
            Cursor {
                request: cursor.request,
                next,
                first_len,
            },
        )))
    })
    .boxed()
}
