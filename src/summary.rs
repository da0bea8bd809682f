//! The three response modes of a list endpoint, decoded.
//!
//! Every list endpoint answers one flat body ([`ListBody`]): `data` + `info` in `default` mode,
//! `count` + `samples` in `summary` mode, and the same plus `export` in `summary_with_export`
//! mode. Because the body is one object and not a `oneOf`, an `export` object that is present is
//! always kept (or the response fails to decode loudly); it can never be silently dropped by a
//! less specific variant matching first.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;
use crate::types;

/// The body of any list response, in any response mode. Generated list calls return it
/// (`client.list_projects().send()` → `ListBody<types::Project>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct ListBody<T> {
    /// The page's items (`default` mode).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<T>,
    /// Pagination info (`default` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<types::PageInfo>,
    /// Total number of items (summary modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Up to 10 sample items (summary modes).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub samples: Vec<T>,
    /// The echoed response mode (summary modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    /// The export started by `summary_with_export`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<types::ExportRef>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Which shape a [`ListBody`] has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// `data` (+ `info`): a page.
    Page,
    /// `count` + `samples`, no export.
    Summary,
    /// `count` + `samples` + `export`.
    SummaryWithExport,
}

impl<T> ListBody<T> {
    /// Which response shape this body has (decided by the keys present, not by the echo).
    pub fn kind(&self) -> BodyKind {
        match (&self.export, self.count) {
            (Some(_), _) => BodyKind::SummaryWithExport,
            (None, Some(_)) => BodyKind::Summary,
            (None, None) => BodyKind::Page,
        }
    }

    /// The body as a page (items and pagination info).
    pub fn into_page(self) -> Page<T> {
        Page {
            items: self.data,
            info: self.info,
        }
    }

    /// The body as a summary, and the export object if there is one.
    pub fn into_summary(self) -> Result<(Summary<T>, Option<types::ExportRef>), Error> {
        let count = self.count.ok_or_else(|| {
            Error::Unexpected(
                "a summary response without `count` (was response_mode ignored?)".into(),
            )
        })?;
        Ok((
            Summary {
                count,
                samples: self.samples,
            },
            self.export,
        ))
    }
}

/// A `summary`: the total count and up to 10 typed samples.
///
/// Every list request has `.summary()`, which answers this with the list's item type:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), mangrove::Error> {
/// # let fake = mangrove::testing::FakeMangrove::start().await;
/// # let client = fake.client(mangrove::testing::TokenKind::Account);
/// let summary = client.list_batches().filter_project_id_eq(1).summary().await?;
/// println!("{} batches", summary.count);
/// for batch in &summary.samples {
///     println!("{} {:?}", batch.id, batch.state); // typed: mangrove::types::Batch
/// }
/// # assert!(summary.samples.len() <= 10);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary<T> {
    /// Total number of items matching the request.
    pub count: u64,
    /// Up to 10 sample items.
    pub samples: Vec<T>,
}

impl<T: Serialize> Summary<T> {
    /// The same summary with the samples as JSON values (what [`ExportError::NotSupported`]
    /// carries).
    ///
    /// [`ExportError::NotSupported`]: crate::ExportError::NotSupported
    pub fn to_json(&self) -> Summary<serde_json::Value> {
        Summary {
            count: self.count,
            samples: self
                .samples
                .iter()
                .map(|s| serde_json::to_value(s).unwrap_or(serde_json::Value::Null))
                .collect(),
        }
    }
}

impl Summary<serde_json::Value> {
    /// Decodes the samples into a typed summary.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<Summary<T>, serde_json::Error> {
        Ok(Summary {
            count: self.count,
            samples: self
                .samples
                .iter()
                .map(|s| T::deserialize(s))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// One page of a `default`-mode list response.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pagination info, when the server sent it.
    pub info: Option<types::PageInfo>,
}

/// The boxed `Send` future of `.summary()` on a list builder.
pub type SummaryFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Summary<T>, Error>> + Send + 'a>>;

/// `response_mode=summary` on any list request. Boxed here, in generic code, so that the `Send`
/// proof is made over the type parameter (rust-lang/rust#100013 trips on the concrete builders).
pub(crate) fn fetch_summary<'a, R: crate::resource::ListRequest<'a>>(
    request: R,
) -> SummaryFuture<'a, R::Item> {
    Box::pin(async move {
        let body = request
            .with_mode(types::ResponseMode::Summary)
            .fetch()
            .await?;
        Ok(body.into_summary()?.0)
    })
}
