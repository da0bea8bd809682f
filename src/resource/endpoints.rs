//! Which generated builder lists which item type, and how the crate sends one: the sealed
//! plumbing under [`ListRequest`](crate::ListRequest). A list request is sent with a [`Query`]
//! (the response mode, the page, the export format) that only this crate can make.
//!
//! The table of list endpoints is written by `build.rs` from `openapi.yaml` (one row per `GET`
//! that answers a list body), so adding an endpoint to the spec adds it here.

use futures::future::BoxFuture;

use super::{Exportable, ListRequest};
use crate::builder;
use crate::error::GeneratedError;
use crate::open_enum::ResourceType;
use crate::summary::ListBody;
use crate::types;
use crate::Client;

pub(crate) mod sealed {
    /// Seals [`ListRequest`](crate::ListRequest): only the generated builders implement it.
    pub trait Sealed {}

    /// The argument of the hidden plumbing methods: it cannot be named, so it cannot be made,
    /// outside the crate, and not even generic code over `R: ListRequest` can call them.
    #[derive(Clone, Copy, Debug)]
    pub struct Internal(pub(in crate::resource) ());

    /// What the crate's own calls set on a list request before sending it.
    #[derive(Clone, Debug)]
    pub struct Query {
        pub(crate) mode: crate::types::ResponseMode,
        pub(crate) page: Option<i64>,
        pub(crate) format: Option<crate::open_enum::ExportFormat>,
    }
}

pub(crate) use sealed::{Internal, Query};

/// The client `request` was made from.
pub(crate) fn client_of<'a, R: ListRequest<'a>>(request: &R) -> &'a Client {
    request.client_internal(Internal(()))
}

/// Sends `request` with `query` set and returns the decoded body.
pub(crate) fn fetch<'a, R: ListRequest<'a>>(
    request: R,
    query: Query,
) -> BoxFuture<'a, Result<ListBody<R::Item>, GeneratedError>> {
    request.fetch_internal(query, Internal(()))
}

/// Maps each generated list builder to its item type and resource (and, for the exportable
/// ones, its [`ResourceType`]).
macro_rules! list_endpoints {
    ($($builder:ident => $item:ident, $resource:literal $(, export $rtype:ident)?;)+) => {$(
        impl sealed::Sealed for builder::$builder<'_> {}

        impl<'a> ListRequest<'a> for builder::$builder<'a> {
            type Item = types::$item;
            const RESOURCE: &'static str = $resource;

            fn client_internal(&self, _: Internal) -> &'a Client {
                self.client_ref()
            }

            fn fetch_internal(
                self,
                query: Query,
                _: Internal,
            ) -> BoxFuture<'a, Result<ListBody<types::$item>, GeneratedError>> {
                let mut request = self.response_mode(query.mode);
                if let Some(page) = query.page {
                    request = request.page(page);
                }
                if let Some(format) = query.format {
                    request = request.export_format(format);
                }
                Box::pin(async move {
                    request.send().await.map(progenitor_client::ResponseValue::into_inner)
                })
            }
        }

        $(
            impl<'a> Exportable<'a> for builder::$builder<'a> {
                const RESOURCE_TYPE: ResourceType = ResourceType::$rtype;
            }
        )?
    )+};
}

// One row per list endpoint of `openapi.yaml`: builder => item type, resource, and the resource
// type of its export (`x-export-resource-type`), written by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/list_endpoints.rs"));
