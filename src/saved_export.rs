//! [`SavedExport`]: what identifies an export across processes and restarts (its id and the
//! status URL the server gave). A bottom-layer module: the export handle, the export-slot limiter
//! and users' own storage all hold one, so it depends on nothing else of this crate.

use serde::{Deserialize, Serialize};

/// What is needed to find an export again later: its id and status URL. Serializable, so a
/// service can store it and [`Export::attach`](crate::Export::attach) after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedExport {
    /// Export id, e.g. `exp_ABC123`.
    pub id: String,
    /// The status URL the server gave, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

impl From<&str> for SavedExport {
    fn from(id: &str) -> Self {
        SavedExport {
            id: id.to_string(),
            status_url: None,
        }
    }
}

impl From<String> for SavedExport {
    fn from(id: String) -> Self {
        SavedExport {
            id,
            status_url: None,
        }
    }
}
