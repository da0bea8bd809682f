//! Every list as a stream: `client.list_batches().page_size(100).stream()`.
//!
//! Pages are fetched lazily, one request at a time, as the stream is polled. The stream ends
//! after the page whose `info.next_page` is null (or, if a server leaves `next_page` out, the
//! page that reaches `info.total_pages`); without `info` it ends on an empty page or one shorter
//! than the first. A `next_page` that does not move forward also ends it, so a confused server
//! cannot loop it forever. Rate limits and transient failures are handled per request (see
//! [`retry`](crate::retry)); an error that remains is yielded and ends the stream.
//!
//! ```no_run
//! # async fn run(client: mangrove::Client) -> Result<(), mangrove::Error> {
//! use futures::TryStreamExt;
//! let batches: Vec<mangrove::types::Batch> =
//!     client.list_batches().page_size(100).stream().try_collect().await?;
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};

use crate::error::Error;
use crate::resource::ListRequest;
use crate::summary::Page;
use crate::types::ResponseMode;

/// A stream of every item of a list endpoint, page after page. See the [module docs](self).
#[must_use = "streams do nothing unless polled"]
pub struct Pages<'a, R: ListRequest<'a>> {
    items: BoxStream<'a, Result<R::Item, Error>>,
}

impl<'a, R: ListRequest<'a>> Pages<'a, R> {
    pub(crate) fn new(request: R) -> Self {
        let items = pages(request)
            .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
            .boxed();
        Pages { items }
    }
}

impl<'a, R: ListRequest<'a>> Stream for Pages<'a, R> {
    type Item = Result<R::Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

struct Cursor<R> {
    request: R,
    next: Option<i64>,
    first_len: Option<usize>,
}

/// The pages of a list request, as a stream of [`Page`]s.
pub fn pages<'a, R: ListRequest<'a>>(request: R) -> BoxStream<'a, Result<Page<R::Item>, Error>> {
    let start = Cursor {
        request,
        next: Some(1),
        first_len: None,
    };
    futures::stream::try_unfold(start, |cursor| async move {
        let Some(page_no) = cursor.next else {
            return Ok(None);
        };
        let body = cursor
            .request
            .clone()
            .with_mode(ResponseMode::Default)
            .with_page(page_no)
            .fetch()
            .await?;
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
