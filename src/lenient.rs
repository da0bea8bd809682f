//! What the SDK reads leniently where the Mangrove docs are silent: the "Tolerant reader" rules
//! of the API description the crate is generated from, applied to every type in
//! [`crate::types`] when the crate is built.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The id of a nested object whose id type the docs never show: an integer or a string,
/// kept as the server sent it (and sent back the same way).
///
/// ```
/// use mangrove::lenient::LooseId;
///
/// let a: LooseId = serde_json::from_str("7").unwrap();
/// let b: LooseId = serde_json::from_str(r#""fs_8XF1QtGs79oX9A6k""#).unwrap();
/// assert_eq!(a, LooseId::Int(7));
/// assert_eq!(b.to_string(), "fs_8XF1QtGs79oX9A6k");
/// assert_eq!(serde_json::to_string(&a).unwrap(), "7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum LooseId {
    /// A JSON integer.
    Int(i64),
    /// A JSON string (a friendly id such as `fs_…`, or digits in quotes).
    Str(String),
}

/// Hand-written, so that anything else fails with what was found, not "did not match any variant".
impl<'de> Deserialize<'de> for LooseId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Id;
        impl serde::de::Visitor<'_> for Id {
            type Value = LooseId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string id")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LooseId, E> {
                Ok(LooseId::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LooseId, E> {
                // Beyond i64: kept as its digits rather than refused.
                Ok(i64::try_from(v).map_or_else(|_| LooseId::Str(v.to_string()), LooseId::Int))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LooseId, E> {
                Ok(LooseId::Str(v.to_string()))
            }
        }
        deserializer.deserialize_any(Id)
    }
}

impl fmt::Display for LooseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LooseId::Int(n) => write!(f, "{n}"),
            LooseId::Str(s) => f.write_str(s),
        }
    }
}

impl From<i64> for LooseId {
    fn from(value: i64) -> Self {
        LooseId::Int(value)
    }
}

impl From<&str> for LooseId {
    fn from(value: &str) -> Self {
        LooseId::Str(value.to_string())
    }
}

impl From<String> for LooseId {
    fn from(value: String) -> Self {
        LooseId::Str(value)
    }
}

/// Deserializes `null` as `T::default()` and anything else as `T`. Every optional array and map
/// of the types in [`crate::types`] reads through it, so a `null` list reads as an empty one.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
