//! Open enums for values the server owns: a value this SDK does not know decodes as
//! `Unknown(String)` (and serializes back unchanged) instead of failing the response.
//!
//! Only decoding is open: [`FromStr`] accepts the known names only and there is no
//! `From<&str>`, so a typo in a value the caller sends fails before any request. An unknown
//! value can still be sent explicitly: `ResourceType::Unknown("Shipment".into())`.
//!
//! An export's [`ExportFormat`] is picked in one place, the export's own builder
//! ([`StartExport::format`](crate::export::StartExport::format)), and a list's response mode by
//! the method that reads it (`.summary()`, `.items()`, `.pages()`, `.summary_with_export()`):
//!
//! ```no_run
//! use mangrove::prelude::*;
//! # async fn run(client: mangrove::Client) -> Result<(), mangrove::ExportError> {
//! let (summary, export) = client
//!     .list_batches()
//!     .summary_with_export()
//!     .format(ExportFormat::Json)
//!     .send()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The list builders have no `export_format` or `response_mode` setter (a second way, which
//! the first would silently override), so neither compiles:
//!
//! ```compile_fail
//! use mangrove::prelude::*;
//! # async fn run(client: mangrove::Client) {
//! let _ = client.list_batches().export_format(ExportFormat::Json).send().await;
//! # }
//! ```
//!
//! ```compile_fail
//! use mangrove::prelude::*;
//! # async fn run(client: mangrove::Client) {
//! let _ = client.list_batches().response_mode(mangrove::types::ResponseMode::Summary).send().await;
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

/// A name that is not one of an open enum's known values (from the strict [`FromStr`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {kind}")]
#[non_exhaustive]
pub struct UnknownValue {
    /// The enum's name, e.g. `"ResourceType"`.
    pub kind: &'static str,
    /// The name that was given.
    pub value: String,
}

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "` on the wire.")] $variant,)+
            /// A value this version of the SDK does not know, kept as the server sent it.
            Unknown(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(other) => other,
                }
            }

            /// The known value spelled `value`, if any.
            fn known(value: &str) -> Option<Self> {
                match value {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        /// Parses a known value; an unknown name is an error.
        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::known(value).ok_or_else(|| UnknownValue {
                    kind: stringify!($name),
                    value: value.to_string(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::known(&text).unwrap_or_else(|| Self::Unknown(text.into_owned())))
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_string()
            }
            fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                <String as schemars::JsonSchema>::json_schema(gen)
            }
        }
    };
}

// `ExportStatus`, `ExportFormat`, `RecordStatus`, `BatchState`, `ModelRunState`, `ReportStatus`,
// `RuleResultStatus` and `ResourceType`: the values and descriptions of their schemas in
// `openapi.yaml` (`OPEN_ENUMS` in build.rs).
include!(concat!(env!("OUT_DIR"), "/open_enums.rs"));

impl ExportStatus {
    /// True for statuses after which polling cannot change anything (`completed`, `failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl Default for ExportFormat {
    /// CSV, as the server's default.
    fn default() -> Self {
        Self::Csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ExportJob;

    // The export status's `resource_type` is the open `ResourceType` of the spec: a known value
    // is a variant, an unknown one is kept as sent, `null` and an absent field are `None`.
    #[test]
    fn export_status_resource_type_is_open() {
        let status = |rt: serde_json::Value| -> ExportJob {
            serde_json::from_value(serde_json::json!({"id": "exp_1", "resource_type": rt})).unwrap()
        };
        let known = status("Delivery".into());
        assert_eq!(known.resource_type, Some(ResourceType::Delivery));
        let unknown = status("Shipment".into());
        assert_eq!(
            unknown.resource_type,
            Some(ResourceType::Unknown("Shipment".into()))
        );
        assert_eq!(
            serde_json::to_value(&unknown).unwrap()["resource_type"],
            "Shipment"
        );
        assert_eq!(status(serde_json::Value::Null).resource_type, None);
        assert!("Shipment".parse::<ResourceType>().is_err());
    }
}
