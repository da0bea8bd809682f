//! Filters and `sort` of the list operations: one engine, driven by [`FILTERS`].
//!
//! [`FILTERS`] lists every `filter[<field>][<op>]` parameter that `openapi.yaml` declares, with
//! the collection it applies to, the row field it reads and the type of its value. A list
//! request's query is parsed once into a [`Query`] (typed values checked: `400` otherwise);
//! [`Query::matches`] then tests one row, so pages, summaries and export files all apply the
//! same rules, and an export evaluates them as it writes each row.
//!
//! Choices where the documentation is silent (GAP):
//!
//! * A `filter[...]` parameter the spec does not declare for that list is `400` (a filter the
//!   fake cannot honour must not silently return every row).
//! * `sort` takes any top-level field of the rows (`friendly_id` is the batch `id`); unknown
//!   fields are ignored (not applied, not echoed), so every `sort` string the spec allows is
//!   answered `200`. Values order as: `null` first, then booleans, numbers (numerically), strings
//!   (byte-wise: timestamps are all UTC with milliseconds, so this is time order), then arrays
//!   and objects (by their JSON text). Ties keep the seeded order.
//! * `info.sort` echoes the applied keys (`[{"field":"start_time","direction":"desc"}]`) and
//!   `info.filter` the applied filters (`[{"field":"state","operator":"eq","value":"complete"}]`,
//!   the value as sent); both are `[]` when nothing was applied, as the documentation shows.
//! * An `eq` filter compares with the field's JSON value: numbers numerically, strings exactly
//!   (case-sensitive); a `null` or absent field never matches. `geq`/`leq` compare date-times as
//!   instants. `filter[project_id][eq]` reads the row's project: its `project_id`, or for
//!   batches their feedstocks' `project_id`, or for rows without a project field (models) the
//!   project they belong to.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use super::api::Reply;
use super::data::{self, Collection};
use super::store::{Row, Table};

/// What a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// A top-level field of the row.
    Column(&'static str),
    /// The project the row belongs to (see the module docs).
    Project,
}

/// The comparison of a filter (`eq`, `geq`, `leq`: the operators the documentation shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Geq,
    Leq,
}

impl Cmp {
    fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Geq => "geq",
            Cmp::Leq => "leq",
        }
    }
}

/// The type of a filter's value, as the spec declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int64,
    DateTime,
    OneOf(&'static [&'static str]),
}

/// One declared filter parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FilterDef {
    pub(crate) collection: Collection,
    /// The query parameter (`filter[state][eq]`).
    pub(crate) param: &'static str,
    pub(crate) field: Field,
    pub(crate) cmp: Cmp,
    pub(crate) kind: Kind,
}

const fn def(
    collection: Collection,
    param: &'static str,
    field: Field,
    cmp: Cmp,
    kind: Kind,
) -> FilterDef {
    FilterDef {
        collection,
        param,
        field,
        cmp,
        kind,
    }
}

const RECORD_STATUS: Kind = Kind::OneOf(&["complete", "incomplete", "pending"]);

use Collection as C;
use Field::{Column, Project};

/// Every filter parameter of `openapi.yaml`, by collection (checked against the spec by the
/// `filters_match_the_spec` test).
pub(crate) const FILTERS: &[FilterDef] = &[
    def(
        C::Events,
        "filter[id][eq]",
        Column("id"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::Events,
        "filter[status][eq]",
        Column("status"),
        Cmp::Eq,
        RECORD_STATUS,
    ),
    def(
        C::Events,
        "filter[tracking_id][eq]",
        Column("tracking_id"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::Batches,
        "filter[project_id][eq]",
        Project,
        Cmp::Eq,
        Kind::Int64,
    ),
    def(
        C::Batches,
        "filter[id][eq]",
        Column("id"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::Batches,
        "filter[state][eq]",
        Column("state"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::LedgerBatches,
        "filter[id][eq]",
        Column("id"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::LedgerBatches,
        "filter[state][eq]",
        Column("state"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::LedgerBatches,
        "filter[tracking_id][eq]",
        Column("tracking_id"),
        Cmp::Eq,
        Kind::Text,
    ),
    // The batch's friendly id is its `id` ("Filter by exact batch id (friendly_id)").
    def(
        C::LedgerBatches,
        "filter[friendly_id][eq]",
        Column("id"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::Models,
        "filter[project_id][eq]",
        Project,
        Cmp::Eq,
        Kind::Int64,
    ),
    def(
        C::Feedstocks,
        "filter[project_id][eq]",
        Project,
        Cmp::Eq,
        Kind::Int64,
    ),
    def(
        C::Feedstocks,
        "filter[feedstock_type_id][eq]",
        Column("feedstock_type_id"),
        Cmp::Eq,
        Kind::Int64,
    ),
    def(
        C::Feedstocks,
        "filter[name][eq]",
        Column("name"),
        Cmp::Eq,
        Kind::Text,
    ),
    def(
        C::Feedstocks,
        "filter[created_at][geq]",
        Column("created_at"),
        Cmp::Geq,
        Kind::DateTime,
    ),
    def(
        C::Feedstocks,
        "filter[created_at][leq]",
        Column("created_at"),
        Cmp::Leq,
        Kind::DateTime,
    ),
    def(
        C::Reports,
        "filter[project_id][eq]",
        Project,
        Cmp::Eq,
        Kind::Int64,
    ),
    def(
        C::Reports,
        "filter[status][eq]",
        Column("status"),
        Cmp::Eq,
        Kind::Text,
    ),
];

/// A filter as applied to one request.
#[derive(Clone, Debug)]
struct Applied {
    def: FilterDef,
    /// The value as sent.
    text: String,
    value: Target,
}

/// A filter's value, parsed by its kind.
#[derive(Clone, Debug)]
enum Target {
    Text(String),
    Int(i64),
    Time(DateTime<FixedOffset>),
}

/// The rows a query selects: all of them in seeded order, or these indices in this order.
#[derive(Clone, Debug)]
pub(crate) enum Selection {
    All(u64),
    Indices(Vec<u64>),
}

impl Selection {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Selection::All(n) => *n,
            Selection::Indices(v) => v.len() as u64,
        }
    }

    /// The index of the `k`-th selected row.
    pub(crate) fn get(&self, k: u64) -> Option<u64> {
        match self {
            Selection::All(n) => (k < *n).then_some(k),
            Selection::Indices(v) => usize::try_from(k).ok().and_then(|k| v.get(k).copied()),
        }
    }
}

/// One `sort` key.
#[derive(Clone, Debug)]
struct SortKey {
    /// As sent (echoed).
    field: String,
    /// The row field it reads.
    column: &'static str,
    descending: bool,
}

/// The filters and sort of one list request (and of the export it starts).
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    filters: Vec<Applied>,
    sort: Vec<SortKey>,
    /// Only rows of this parent (index in the parent collection): a nested list.
    parent: Option<u64>,
}

impl Query {
    /// Parses the filters and `sort` of `query` for a list of `collection`; `400` for an
    /// undeclared filter or a value that is not of the declared type.
    pub(crate) fn parse(
        collection: Collection,
        query: &[(String, String)],
        parent: Option<u64>,
    ) -> Result<Query, Reply> {
        let mut parsed = Query {
            parent,
            ..Query::default()
        };
        for (name, text) in query {
            if name == "sort" {
                parsed.sort.extend(sort_keys(collection, text));
                continue;
            }
            if !name.starts_with("filter[") {
                continue;
            }
            let Some(def) = FILTERS
                .iter()
                .find(|d| d.collection == collection && d.param == name)
            else {
                let declared: Vec<&str> = FILTERS
                    .iter()
                    .filter(|d| d.collection == collection)
                    .map(|d| d.param)
                    .collect();
                return Err(Reply::message(
                    400,
                    format!(
                        "Unknown filter {name:?} on this list; the filters it takes are: {}.",
                        if declared.is_empty() {
                            "none".to_string()
                        } else {
                            declared.join(", ")
                        }
                    ),
                ));
            };
            let value = target(def.kind, text).ok_or_else(|| {
                let expected = match def.kind {
                    Kind::Int64 => "a 64-bit integer".to_string(),
                    Kind::DateTime => "an RFC 3339 date-time".to_string(),
                    Kind::OneOf(values) => format!("one of {}", values.join(", ")),
                    Kind::Text => "a string".to_string(),
                };
                Reply::message(400, format!("{name} must be {expected}, got {text:?}."))
            })?;
            parsed.filters.push(Applied {
                def: *def,
                text: text.clone(),
                value,
            });
        }
        Ok(parsed)
    }

    /// Whether every row matches (no filter, no parent).
    pub(crate) fn selects_all(&self) -> bool {
        self.filters.is_empty() && self.parent.is_none()
    }

    /// Whether the rows keep their seeded order.
    pub(crate) fn unsorted(&self) -> bool {
        self.sort.is_empty()
    }

    /// Whether row `index` of `table` matches. The parent is checked first, without building
    /// the row.
    pub(crate) fn matches_index(&self, table: &Table, index: u64) -> Option<Row> {
        if let Some(parent) = self.parent {
            if table.parent_of(index) != Some(parent) {
                return None;
            }
        }
        let row = table.row(index)?;
        self.matches(table, index, &row).then_some(row)
    }

    fn matches(&self, table: &Table, index: u64, row: &Row) -> bool {
        self.filters.iter().all(|f| match f.def.field {
            Column(name) => row
                .get(name)
                .is_some_and(|v| compare(f.def.cmp, v, &f.value)),
            Project => {
                project_ids(table, index, row).any(|p| compare(f.def.cmp, &json!(p), &f.value))
            }
        })
    }

    /// The indices of the matching rows of `table`, in order. Only the sort keys of the
    /// matching rows are held while sorting, not the rows.
    pub(crate) fn select(&self, table: &Table) -> Selection {
        if self.selects_all() && self.unsorted() {
            return Selection::All(table.len());
        }
        if self.unsorted() {
            return Selection::Indices(
                (0..table.len())
                    .filter(|&i| self.matches_index(table, i).is_some())
                    .collect(),
            );
        }
        let mut keyed: Vec<(Vec<Value>, u64)> = (0..table.len())
            .filter_map(|i| {
                let row = self.matches_index(table, i)?;
                let keys = self
                    .sort
                    .iter()
                    .map(|k| row.get(k.column).cloned().unwrap_or(Value::Null))
                    .collect();
                Some((keys, i))
            })
            .collect();
        // Stable: ties keep the seeded order.
        keyed.sort_by(|(a, _), (b, _)| self.order(a, b));
        Selection::Indices(keyed.into_iter().map(|(_, i)| i).collect())
    }

    /// The matching rows of `table` in order, built one at a time as the iterator is consumed
    /// (an export writes each before the next is built). Unsorted, nothing is held; sorted, the
    /// matching indices are chosen first (see [`select`](Self::select)).
    pub(crate) fn rows(self, table: Table) -> Box<dyn Iterator<Item = Row> + Send> {
        if !self.unsorted() {
            let selection = self.select(&table);
            return Box::new(
                (0..selection.len())
                    .filter_map(move |k| selection.get(k).and_then(|i| table.row(i))),
            );
        }
        if self.selects_all() {
            return Box::new((0..table.len()).filter_map(move |i| table.row(i)));
        }
        Box::new((0..table.len()).filter_map(move |i| self.matches_index(&table, i)))
    }

    /// The order of two rows' sort keys.
    fn order(&self, a: &[Value], b: &[Value]) -> Ordering {
        for ((key, a), b) in self.sort.iter().zip(a).zip(b) {
            let ord = value_order(a, b);
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    /// `info.sort`: the applied keys.
    pub(crate) fn sort_info(&self) -> Value {
        Value::Array(
            self.sort
                .iter()
                .map(|k| {
                    json!({
                        "field": k.field,
                        "direction": if k.descending { "desc" } else { "asc" },
                    })
                })
                .collect(),
        )
    }

    /// `info.filter`: the applied filters.
    pub(crate) fn filter_info(&self) -> Value {
        Value::Array(
            self.filters
                .iter()
                .map(|f| {
                    let field = f
                        .def
                        .param
                        .strip_prefix("filter[")
                        .and_then(|rest| rest.split(']').next())
                        .unwrap_or(f.def.param);
                    json!({ "field": field, "operator": f.def.cmp.name(), "value": f.text })
                })
                .collect(),
        )
    }
}

/// The project ids (1-based) row `index` belongs to.
fn project_ids<'a>(table: &Table, index: u64, row: &'a Row) -> Box<dyn Iterator<Item = i64> + 'a> {
    let as_id = |v: &Value| v.as_i64();
    match table.collection {
        C::Batches | C::LedgerBatches => Box::new(
            row.get("feedstocks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(move |f| f.get("project_id").and_then(as_id)),
        ),
        _ => match row.get("project_id") {
            Some(v) => Box::new(as_id(v).into_iter()),
            None if data::parent(table.collection) == Some(C::Projects) => Box::new(
                table
                    .parent_of(index)
                    .and_then(|p| i64::try_from(p + 1).ok())
                    .into_iter(),
            ),
            None => Box::new(std::iter::empty()),
        },
    }
}

/// The value of a filter, parsed by its kind.
fn target(kind: Kind, text: &str) -> Option<Target> {
    match kind {
        Kind::Text => Some(Target::Text(text.to_string())),
        Kind::OneOf(values) => values
            .contains(&text)
            .then(|| Target::Text(text.to_string())),
        Kind::Int64 => text.parse().ok().map(Target::Int),
        Kind::DateTime => DateTime::parse_from_rfc3339(text).ok().map(Target::Time),
    }
}

/// Whether the row's `value` compares as `cmp` with `target`.
fn compare(cmp: Cmp, value: &Value, target: &Target) -> bool {
    let ord = match (value, target) {
        (Value::Number(n), Target::Int(want)) => n.as_i64().map(|n| n.cmp(want)),
        (Value::Number(n), Target::Text(want)) => match (n.as_f64(), want.parse::<f64>()) {
            (Some(n), Ok(want)) => n.partial_cmp(&want),
            _ => None,
        },
        (Value::String(s), Target::Text(want)) => Some(s.as_str().cmp(want.as_str())),
        (Value::String(s), Target::Int(want)) => s.parse::<i64>().ok().map(|n| n.cmp(want)),
        (Value::String(s), Target::Time(want)) => {
            DateTime::parse_from_rfc3339(s).ok().map(|t| t.cmp(want))
        }
        (Value::Bool(b), Target::Text(want)) => Some(b.to_string().as_str().cmp(want.as_str())),
        _ => None,
    };
    match (cmp, ord) {
        (_, None) => false,
        (Cmp::Eq, Some(ord)) => ord == Ordering::Equal,
        (Cmp::Geq, Some(ord)) => ord != Ordering::Less,
        (Cmp::Leq, Some(ord)) => ord != Ordering::Greater,
    }
}

/// The sort keys of a `sort` value that name a field of `collection` (others are ignored).
fn sort_keys(collection: Collection, text: &str) -> Vec<SortKey> {
    let columns = data::columns(collection);
    text.split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (descending, field) = match part.strip_prefix('-') {
                Some(field) => (true, field),
                None => (false, part.strip_prefix('+').unwrap_or(part)),
            };
            let wanted = if field == "friendly_id" && !columns.contains(&"friendly_id") {
                "id"
            } else {
                field
            };
            let column = columns.iter().find(|c| **c == wanted)?;
            Some(SortKey {
                field: field.to_string(),
                column,
                descending,
            })
        })
        .collect()
}

/// The order of two JSON values (see the module docs).
fn value_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) | Value::Object(_) => 4,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (x, y) if rank(x) == 4 && rank(y) == 4 => x.to_string().cmp(&y.to_string()),
        (x, y) => rank(x).cmp(&rank(y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::data::Links;
    use crate::testing::store::Store;

    fn q(collection: Collection, pairs: &[(&str, &str)]) -> Result<Query, Reply> {
        let query: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Query::parse(collection, &query, None)
    }

    #[test]
    fn undeclared_and_mistyped_filters_are_refused() {
        assert_eq!(
            q(C::Projects, &[("filter[name][eq]", "x")])
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            q(C::Batches, &[("filter[project_id][eq]", "one")])
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            q(C::Events, &[("filter[status][eq]", "done")])
                .unwrap_err()
                .status,
            400
        );
        assert!(q(
            C::Events,
            &[("filter[status][eq]", "pending"), ("page", "2")]
        )
        .is_ok());
    }

    #[test]
    fn unknown_sort_fields_are_ignored_and_echo_shows_what_applied() {
        let query = q(C::Batches, &[("sort", "-start_time,nope,friendly_id")]).unwrap();
        assert_eq!(
            query.sort_info(),
            json!([{"field":"start_time","direction":"desc"},{"field":"friendly_id","direction":"asc"}])
        );
        assert_eq!(query.filter_info(), json!([]));
        let query = q(
            C::Feedstocks,
            &[("filter[created_at][geq]", "2023-01-01T00:10:00Z")],
        )
        .unwrap();
        assert_eq!(
            query.filter_info(),
            json!([{"field":"created_at","operator":"geq","value":"2023-01-01T00:10:00Z"}])
        );
    }

    #[test]
    fn comparisons() {
        let t = |s: &str| Target::Time(DateTime::parse_from_rfc3339(s).unwrap());
        assert!(compare(Cmp::Eq, &json!(5), &Target::Int(5)));
        assert!(!compare(
            Cmp::Eq,
            &Value::Null,
            &Target::Text(String::new())
        ));
        assert!(compare(Cmp::Eq, &json!("a"), &Target::Text("a".into())));
        assert!(!compare(Cmp::Eq, &json!("A"), &Target::Text("a".into())));
        let at = json!("2023-01-01T10:00:00.000Z");
        assert!(compare(Cmp::Geq, &at, &t("2023-01-01T10:00:00Z")));
        assert!(compare(Cmp::Leq, &at, &t("2023-01-01T11:00:00+01:00")));
        assert!(!compare(Cmp::Geq, &at, &t("2023-01-01T10:00:01Z")));
        assert_eq!(value_order(&Value::Null, &json!(0)), Ordering::Less);
        assert_eq!(value_order(&json!(10), &json!(9.5)), Ordering::Greater);
        assert_eq!(value_order(&json!("b"), &json!("a")), Ordering::Greater);
    }

    /// [`FILTERS`] holds exactly the `filter[...]` parameters `openapi.yaml` declares for each
    /// list operation, with the declared type.
    #[test]
    fn filters_match_the_spec() {
        use crate::testing::api::ROUTES;
        let spec: Value =
            serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/openapi.json"))).unwrap();
        let shared = &spec["components"]["parameters"];
        let mut checked = 0;
        for operation in spec["paths"].as_object().unwrap().values() {
            let Some(get) = operation.get("get") else {
                continue;
            };
            let id = get["operationId"].as_str().unwrap();
            let Some(collection) = ROUTES
                .iter()
                .find(|(_, _, op)| op.id() == id)
                .and_then(|(_, _, op)| op.list_resource())
            else {
                continue;
            };
            let mut declared: Vec<(String, Kind)> = Vec::new();
            for parameter in get["parameters"].as_array().unwrap() {
                let parameter = match parameter["$ref"].as_str() {
                    Some(r) => &shared[r.rsplit('/').next().unwrap()],
                    None => parameter,
                };
                let name = parameter["name"].as_str().unwrap();
                if !name.starts_with("filter[") {
                    continue;
                }
                let schema = &parameter["schema"];
                let kind = if schema["$ref"] == json!("#/components/schemas/RecordStatus") {
                    RECORD_STATUS
                } else if schema["type"] == json!("integer") {
                    Kind::Int64
                } else if schema["format"] == json!("date-time") {
                    Kind::DateTime
                } else {
                    Kind::Text
                };
                declared.push((name.to_string(), kind));
            }
            let ours: Vec<(String, Kind)> = FILTERS
                .iter()
                .filter(|d| d.collection == collection)
                .map(|d| (d.param.to_string(), d.kind))
                .collect();
            declared.sort_by(|a, b| a.0.cmp(&b.0));
            let mut ours = ours;
            ours.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(ours, declared, "{id}");
            checked += 1;
        }
        assert_eq!(checked, 15, "every list operation");
    }

    #[test]
    fn project_of_batches_models_and_feedstocks() {
        let store = Store::new(Links::DEFAULT);
        for (collection, index) in [(C::Batches, 2u64), (C::Models, 2), (C::Feedstocks, 2)] {
            let table = store.table(collection);
            let query = q(collection, &[("filter[project_id][eq]", "3")]).unwrap();
            assert!(
                query.matches_index(&table, index).is_some(),
                "{collection:?}"
            );
            let other = q(collection, &[("filter[project_id][eq]", "4")]).unwrap();
            assert!(
                other.matches_index(&table, index).is_none(),
                "{collection:?}"
            );
        }
    }
}
