//! Open enums for values the server owns.
//!
//! progenitor generates closed enums, so a new server value (an export status of `"expired"`,
//! a new batch state) would fail the whole response. `build.rs` replaces each schema listed here
//! with one of these types: the known values get variants, anything else decodes as
//! `Unknown(String)` and serializes back unchanged.

use std::fmt;
use std::str::FromStr;

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
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
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match Self::from(value.as_str()) {
                    Self::Unknown(_) => Self::Unknown(value),
                    known => known,
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(value))
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
                Ok(Self::from(text.into_owned()))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_string()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

open_enum! {
    /// Status of an export.
    ExportStatus {
        /// Accepted, not started yet.
        Pending = "pending",
        /// Being generated.
        Processing = "processing",
        /// Done: the status carries a `download_url`.
        Completed = "completed",
        /// Ended without a file: the status carries an `error`.
        Failed = "failed",
    }
}

impl ExportStatus {
    /// True for statuses after which polling cannot change anything (`completed`, `failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

open_enum! {
    /// Format of an export file, as the export status reports it.
    ExportFileFormat {
        /// Comma-separated values with a header row.
        Csv = "csv",
        /// One JSON array of objects.
        Json = "json",
    }
}

open_enum! {
    /// Status of an event or a data point.
    RecordStatus {
        /// Complete.
        Complete = "complete",
        /// Incomplete.
        Incomplete = "incomplete",
        /// Pending.
        Pending = "pending",
    }
}

open_enum! {
    /// State of a batch.
    BatchState {
        /// Calculated.
        Complete = "complete",
        /// Being calculated.
        Processing = "processing",
        /// Waiting to be calculated.
        Pending = "pending",
        /// Calculation failed.
        Failed = "failed",
    }
}

open_enum! {
    /// State of a model run.
    ModelRunState {
        /// Finished.
        Complete = "complete",
        /// Running.
        Processing = "processing",
        /// Waiting to run.
        Pending = "pending",
        /// Failed.
        Failed = "failed",
    }
}

open_enum! {
    /// Status of a report.
    ReportStatus {
        /// Editable.
        Draft = "draft",
        /// Final.
        Complete = "complete",
    }
}

open_enum! {
    /// Status of a rule result.
    RuleResultStatus {
        /// The rule passed.
        Pass = "pass",
        /// The rule failed (an alert).
        Fail = "fail",
        /// A failed result that a user dismissed.
        Dismissed = "dismissed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip() {
        let status: ExportStatus = serde_json::from_str("\"expired\"").unwrap();
        assert_eq!(status, ExportStatus::Unknown("expired".into()));
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"expired\"");
        let known: ExportStatus = serde_json::from_str("\"completed\"").unwrap();
        assert_eq!(known, ExportStatus::Completed);
        assert!(known.is_terminal());
        assert_eq!(
            "draft".parse::<ReportStatus>().unwrap(),
            ReportStatus::Draft
        );
    }
}
