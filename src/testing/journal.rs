//! What the fake has seen: API requests, storage requests, export polls.

use std::collections::BTreeMap;
use std::time::Duration;

use super::storage::StorageRequest;

/// One API request as the fake received and answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    /// Request method (`GET`, `POST`, …).
    pub method: String,
    /// Path as received, including `/api/v1` (`/api/v1/exports/exp_…`).
    pub path: String,
    /// Query string as received (percent-encoded), if any.
    pub query: Option<String>,
    /// Request headers (lower-case names; values as received, `Authorization` included).
    pub headers: Vec<(String, String)>,
    /// Status code of the answer.
    pub status: u16,
    /// Arrival time on the fake's clock ([`FakeClock::now`](super::FakeClock::now)).
    pub at: Duration,
    /// The `operationId` the request was routed to, if any (`"list_projects"`, …).
    pub operation: Option<&'static str>,
}

impl ApiRequest {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header exactly as received.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }

    /// The first query parameter called `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A snapshot of everything a [`FakeMangrove`](super::FakeMangrove) has seen, from
/// [`FakeMangrove::journal`](super::FakeMangrove::journal).
#[derive(Clone, Debug, Default)]
pub struct Journal {
    /// Every API request, in the order they were answered.
    pub requests: Vec<ApiRequest>,
    /// Every request to the storage origin.
    pub storage: Vec<StorageRequest>,
    /// Number of status polls (`GET /exports/{id}` of a known export) per export id.
    pub polls: BTreeMap<String, u32>,
    /// The largest number of exports that were in flight (not yet `completed`/`failed`) at once.
    pub max_exports_in_flight: usize,
}

impl Journal {
    /// API requests routed to the operation `operation_id` (e.g. `"get_export"`).
    pub fn requests_to(&self, operation_id: &str) -> Vec<&ApiRequest> {
        self.requests
            .iter()
            .filter(|r| r.operation == Some(operation_id))
            .collect()
    }

    /// API requests answered with `status`.
    pub fn requests_with_status(&self, status: u16) -> Vec<&ApiRequest> {
        self.requests
            .iter()
            .filter(|r| r.status == status)
            .collect()
    }

    /// Storage requests that carried an `Authorization` header (a client leaking its API token
    /// to the file host). Should be empty.
    pub fn requests_to_storage_with_authorization(&self) -> Vec<&StorageRequest> {
        self.storage
            .iter()
            .filter(|r| r.header("authorization").is_some())
            .collect()
    }

    /// `GET` requests of export files on the storage origin.
    pub fn downloads(&self) -> Vec<&StorageRequest> {
        self.storage.iter().filter(|r| r.method == "GET").collect()
    }

    /// Number of status polls of `export_id`.
    pub fn polls_of(&self, export_id: &str) -> u32 {
        self.polls.get(export_id).copied().unwrap_or(0)
    }
}
