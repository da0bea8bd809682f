//! The three response modes of a list endpoint, decoded into one flat body ([`ListBody`]):
//! `data` + `info` (`default`), `count` + `samples` (`summary`), and the same plus `export`
//! (`summary_with_export`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::types;

/// The body of any list response. `data` is strict: an item that does not decode fails the call
/// ([`Error::Decode`](crate::Error::Decode)); a sample that does not decode into `T` is kept, exactly as sent, in
/// [`unfit_samples`](Self::unfit_samples), so a summary never loses its count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(
    bound(deserialize = "T: DeserializeOwned", serialize = "T: Serialize"),
    from = "WireBody<T>"
)]
pub struct ListBody<T> {
    /// The page's items (`default` mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<T>,
    /// Pagination info (`default` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<types::PageInfo>,
    /// Total number of items (summary modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Up to 10 sample items (summary modes): those that decode into `T`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<T>,
    /// The echoed response mode (summary modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    /// The export started by `summary_with_export`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<types::ExportRef>,
    /// The samples that do not decode into `T`, as sent and with why.
    #[serde(skip)]
    #[cfg_attr(feature = "schemars", schemars(skip))]
    pub unfit_samples: Vec<UnfitSample>,
    /// Every sample exactly as the server sent it, in order.
    #[serde(skip)]
    #[cfg_attr(feature = "schemars", schemars(skip))]
    raw_samples: RawSamples,
}

/// A summary sample that does not decode into the list's item type, kept as the server sent it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UnfitSample {
    /// Its position in the server's `samples`.
    pub index: usize,
    /// The sample exactly as the server sent it.
    pub raw: Box<RawValue>,
    /// The JSON path of the value that did not fit, e.g. `samples[2].state`.
    pub path: String,
    /// What did not fit, e.g. `invalid type: integer `3`, expected a string`.
    pub message: String,
}

impl PartialEq for UnfitSample {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
            && self.raw.get() == other.raw.get()
            && self.path == other.path
            && self.message == other.message
    }
}

/// Equal when their texts are.
#[derive(Clone, Debug, Default)]
struct RawSamples(Vec<Box<RawValue>>);

impl PartialEq for RawSamples {
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .map(|r| r.get())
            .eq(other.0.iter().map(|r| r.get()))
    }
}

/// A list body as it is on the wire: the samples still raw.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct WireBody<T> {
    #[serde(default, deserialize_with = "crate::lenient::null_as_default")]
    data: Vec<T>,
    info: Option<types::PageInfo>,
    count: Option<u64>,
    #[serde(default, deserialize_with = "crate::lenient::null_as_default")]
    samples: Vec<Box<RawValue>>,
    response_mode: Option<String>,
    export: Option<types::ExportRef>,
}

impl<T: DeserializeOwned> From<WireBody<T>> for ListBody<T> {
    fn from(wire: WireBody<T>) -> Self {
        let mut samples = Vec::with_capacity(wire.samples.len());
        let mut unfit_samples = Vec::new();
        for (index, raw) in wire.samples.iter().enumerate() {
            match serde_json::from_str::<T>(raw.get()) {
                Ok(sample) => samples.push(sample),
                Err(first) => {
                    let (path, message) = crate::decode::find::<T>(raw.get().as_bytes(), first);
                    unfit_samples.push(UnfitSample {
                        index,
                        raw: raw.clone(),
                        path: crate::decode::join_path(&format!("samples[{index}]"), &path),
                        message,
                    });
                }
            }
        }
        if let Some(first) = unfit_samples.first() {
            tracing::warn!(
                unfit = unfit_samples.len(),
                of = wire.samples.len(),
                path = %first.path,
                message = %first.message,
                "summary samples that do not fit the item type are kept raw in `unfit_samples`"
            );
        }
        ListBody {
            data: wire.data,
            info: wire.info,
            count: wire.count,
            samples,
            response_mode: wire.response_mode,
            export: wire.export,
            unfit_samples,
            raw_samples: RawSamples(wire.samples),
        }
    }
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
    /// Which response shape this body has (by the keys present, not by the echo).
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

    /// Every sample exactly as the server sent it, [`unfit_samples`](Self::unfit_samples) included.
    pub fn raw_samples(&self) -> &[Box<RawValue>] {
        &self.raw_samples.0
    }
}

/// A `summary`: the count and up to 10 typed samples ([`.summary()`](crate::ListRequest::summary)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary<T> {
    /// Total number of items matching the request.
    pub count: u64,
    /// Up to 10 sample items: those that decode into `T`.
    pub samples: Vec<T>,
    /// The samples that do not decode into `T` (usually empty).
    #[serde(skip)]
    pub unfit_samples: Vec<UnfitSample>,
}

impl Summary<serde_json::Value> {
    /// Decodes the samples into a typed summary.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<Summary<T>, serde_json::Error> {
        let samples = self.samples.iter().map(T::deserialize);
        Ok(Summary {
            count: self.count,
            samples: samples.collect::<Result<_, _>>()?,
            unfit_samples: self.unfit_samples.clone(),
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
