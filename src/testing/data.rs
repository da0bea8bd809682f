//! Deterministic seeded rows for every resource the fake serves, and the export file formats.
//!
//! [`row`] builds row number `index` of a resource from a splitmix64 hash of `(resource, index)`:
//! the same index always gives the same row, on every machine, without a random-number crate.
//! Field names and JSON types follow the example objects of the Mangrove API documentation
//! (its resource pages); objects the documentation does not show (feedstock, tracking unit,
//! standalone location, standalone delivery) use the shapes listed on [`Collection`].
//!
//! Identifiers: integer ids are `index + 1`; friendly ids are the documented prefix (`evt_`,
//! `in_`, `dp_`, `loc_`, `bat_`, `lgr_`, `mdl_`, `rpt_`, `dl_`, plus `tu_` for tracking units)
//! followed by 16 ASCII alphanumerics derived from the index (distinct indices give distinct ids).
//! Timestamps are RFC 3339 UTC with milliseconds and `Z` (`2025-01-15T10:00:00.000Z`); date-only
//! fields are `YYYY-MM-DD`.
//!
//! Every resource puts awkward text in the rows whose index is `3 (mod 97)` (and, for resources
//! with a single free-text field, `4 (mod 97)`): [`TRICKY_TEXT`] (a comma, a double quote and a
//! newline) and [`UNICODE_TEXT`] (non-ASCII), so that CSV quoting and UTF-8 handling are exercised
//! by any export of at least five rows.
//!
//! # File conventions
//!
//! These are exactly what the SDK's record parser expects from an export file.
//!
//! **CSV** ([`ExportFormat::Csv`], `text/csv`): RFC 4180 with `\n` line ends (also after the last
//! record). The first line is the header, the row's top-level keys in the order of
//! [`columns`]. One line per row follows (a cell may contain quoted line breaks). Cells:
//!
//! * strings as-is; a cell is wrapped in double quotes when it contains `,`, `"`, `\n` or `\r`,
//!   and a `"` inside a quoted cell is doubled (`""`);
//! * numbers and booleans in their JSON spelling (`290.6`, `12`, `true`);
//! * `null` is an empty cell (so is an empty string: the two are indistinguishable in CSV);
//! * arrays and objects are their compact JSON text (`[{"id":1,"name":"Image.png"}]`), quoted
//!   by the rule above.
//!
//! An export with no rows is just the header line.
//!
//! **JSON** ([`ExportFormat::Json`], `application/json`): one JSON array of the row objects, written
//! as `[`, then the rows separated by `,\n`, then `]`, with no trailing newline; an empty export
//! is `[]`. The top-level keys of each object come in the order of [`columns`]; each row is
//! compact (no spaces, no newlines inside a row).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use crate::ExportFormat;

/// A string with a comma, a double quote and a newline, put in some rows (see the module docs).
pub const TRICKY_TEXT: &str = "Site 7, \"north\" yard\nsecond line";

/// A non-ASCII string put in some rows (see the module docs).
pub const UNICODE_TEXT: &str = "Forêt de Bäume – 東京 CO₂ ☕";

/// Every collection the fake serves rows for: what one list endpoint (or, for `Deliveries`, one
/// export `resource_type`) serves. Not to be confused with [`ResourceType`](crate::ResourceType),
/// the SDK's name for an export's `resource_type` string.
///
/// Shapes of the objects that the API documentation does not show:
///
/// * `Feedstocks`: `{id: int, name: string, feedstock_type_id: int, project_id: int, created_at,
///   updated_at}`;
/// * `TrackingUnits`: `{id: "tu_…", name, project_id: int, created_at, updated_at}`;
/// * `Locations`: `{id: "loc_…", lat: string, long: string, name, address: {name,
///   street_address_1, street_address_2, city, state, postal_code, country}}` (address fields are
///   nullable strings);
/// * `Deliveries`: the delivery object embedded in orders (`friendly_id: "dl_…"`, …).
///
/// `LedgerBatches` rows have the shape of `Batches` rows; `BatchEvidences` rows are evidence
/// objects; `ModelRuns` rows are model-run list items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `GET /projects`.
    Projects,
    /// `GET /projects/{id}/events`.
    Events,
    /// `GET /projects/{id}/event_types`.
    EventTypes,
    /// `GET /projects/{id}/data_points`.
    DataPoints,
    /// `GET /batches`.
    Batches,
    /// `GET /ledgers`.
    Ledgers,
    /// `GET /orders`.
    Orders,
    /// `GET /feedstocks`.
    Feedstocks,
    /// `GET /tracking_units`.
    TrackingUnits,
    /// `GET /models`.
    Models,
    /// `GET /reports`.
    Reports,
    /// `GET /locations`.
    Locations,
    /// Deliveries: exportable only through `POST /exports` with `resource_type: "Delivery"`.
    Deliveries,
    /// `GET /ledgers/{id}/batches` (not exportable).
    LedgerBatches,
    /// `GET /batches/{id}/evidences` (not exportable).
    BatchEvidences,
    /// `GET /models/{id}/model_runs` (not exportable).
    ModelRuns,
}

impl Collection {
    /// Every resource, exportable ones first (in the order of the exports table, then
    /// `Deliveries`), then the three list-only ones.
    pub const ALL: [Collection; 16] = [
        Collection::Projects,
        Collection::Events,
        Collection::EventTypes,
        Collection::DataPoints,
        Collection::Batches,
        Collection::Ledgers,
        Collection::Orders,
        Collection::Feedstocks,
        Collection::TrackingUnits,
        Collection::Models,
        Collection::Reports,
        Collection::Locations,
        Collection::Deliveries,
        Collection::LedgerBatches,
        Collection::BatchEvidences,
        Collection::ModelRuns,
    ];

    /// Whether an export file can be produced for this resource: the twelve resources of the
    /// exports table plus `Deliveries`.
    pub fn exportable(self) -> bool {
        !matches!(
            self,
            Collection::LedgerBatches | Collection::BatchEvidences | Collection::ModelRuns
        )
    }

    /// The singular class name used as `resource_type` by `POST /exports` (`"Project"`,
    /// `"Delivery"`, …). The non-exportable resources give `"LedgerBatch"`, `"Evidence"` and
    /// `"ModelRun"`, which [`from_resource_type`](Self::from_resource_type) does not accept.
    pub fn resource_type(self) -> &'static str {
        match self {
            Collection::Projects => "Project",
            Collection::Events => "Event",
            Collection::EventTypes => "EventType",
            Collection::DataPoints => "DataPoint",
            Collection::Batches => "Batch",
            Collection::Ledgers => "Ledger",
            Collection::Orders => "Order",
            Collection::Feedstocks => "Feedstock",
            Collection::TrackingUnits => "TrackingUnit",
            Collection::Models => "Model",
            Collection::Reports => "Report",
            Collection::Locations => "Location",
            Collection::Deliveries => "Delivery",
            Collection::LedgerBatches => "LedgerBatch",
            Collection::BatchEvidences => "Evidence",
            Collection::ModelRuns => "ModelRun",
        }
    }

    /// The exportable resource whose [`resource_type`](Self::resource_type) is `name`
    /// (case-sensitive); `None` for anything else, including the non-exportable names.
    pub fn from_resource_type(name: &str) -> Option<Collection> {
        Collection::ALL
            .into_iter()
            .find(|r| r.exportable() && r.resource_type() == name)
    }

    /// Snake-case plural name (`"projects"`, `"event_types"`, `"evidences"`, …), used in file
    /// names and paths.
    pub fn slug(self) -> &'static str {
        match self {
            Collection::Projects => "projects",
            Collection::Events => "events",
            Collection::EventTypes => "event_types",
            Collection::DataPoints => "data_points",
            Collection::Batches => "batches",
            Collection::Ledgers => "ledgers",
            Collection::Orders => "orders",
            Collection::Feedstocks => "feedstocks",
            Collection::TrackingUnits => "tracking_units",
            Collection::Models => "models",
            Collection::Reports => "reports",
            Collection::Locations => "locations",
            Collection::Deliveries => "deliveries",
            Collection::LedgerBatches => "ledger_batches",
            Collection::BatchEvidences => "evidences",
            Collection::ModelRuns => "model_runs",
        }
    }

    /// The position in [`ALL`](Self::ALL).
    pub(crate) fn position(self) -> usize {
        // `salt` is the position + 1 (checked by a unit test).
        (self.salt() - 1) as usize
    }

    /// Hash salt of the resource (distinct per resource).
    fn salt(self) -> u64 {
        match self {
            Collection::Projects => 1,
            Collection::Events => 2,
            Collection::EventTypes => 3,
            Collection::DataPoints => 4,
            Collection::Batches => 5,
            Collection::Ledgers => 6,
            Collection::Orders => 7,
            Collection::Feedstocks => 8,
            Collection::TrackingUnits => 9,
            Collection::Models => 10,
            Collection::Reports => 11,
            Collection::Locations => 12,
            Collection::Deliveries => 13,
            Collection::LedgerBatches => 14,
            Collection::BatchEvidences => 15,
            Collection::ModelRuns => 16,
        }
    }
}

/// Salts for objects embedded in other rows (never equal to a [`Collection::salt`]).
const SALT_EVENT_DATA_POINT: u64 = 101;
const SALT_MODEL_RUN_OUTPUT: u64 = 102;
const SALT_BATCH_MODEL_RUN: u64 = 103;

/// The CSV header of `resource`: the row's top-level keys, in the order files use.
pub fn columns(resource: Collection) -> &'static [&'static str] {
    match resource {
        Collection::Projects => &[
            "id",
            "name",
            "description",
            "project_type",
            "credit_types",
            "country",
            "state",
            "project_status",
            "registry_name",
            "registry_link",
            "methodology",
            "images",
            "sustainable_development_goals",
        ],
        Collection::Events => &[
            "id",
            "slug",
            "event_type",
            "tracking_id",
            "status",
            "notes",
            "start_time",
            "end_time",
            "created_at",
            "updated_at",
            "data_points",
            "locations",
            "evidences",
        ],
        Collection::EventTypes => &[
            "id",
            "slug",
            "name",
            "is_static",
            "data_point_types",
            "created_at",
            "updated_at",
        ],
        Collection::DataPoints => &["id", "slug", "data_point_type", "value", "unit", "status"],
        Collection::Batches | Collection::LedgerBatches => &[
            "id",
            "tracking_id",
            "start_time",
            "end_time",
            "state",
            "created_at",
            "updated_at",
            "primary_output",
            "ledger_balance",
            "allocations",
            "model_run",
            "feedstocks",
        ],
        Collection::Ledgers => &[
            "id",
            "name",
            "unit",
            "system_ledger_type",
            "partition_type",
            "cadence",
            "latest_model",
            "asset_category",
            "created_at",
            "updated_at",
        ],
        Collection::Orders => &[
            "id",
            "order_status",
            "customer",
            "reference",
            "deal_date",
            "expiry_date",
            "currency",
            "order_terms",
            "delivery_method",
            "deliveries",
            "created_at",
            "updated_at",
        ],
        Collection::Feedstocks => &[
            "id",
            "name",
            "feedstock_type_id",
            "project_id",
            "created_at",
            "updated_at",
        ],
        Collection::TrackingUnits => &["id", "name", "project_id", "created_at", "updated_at"],
        Collection::Models => &[
            "id",
            "name",
            "version",
            "is_latest",
            "cadence",
            "partition_type",
            "order",
            "created_at",
            "updated_at",
        ],
        Collection::Reports => &[
            "id",
            "name",
            "report_type",
            "status",
            "project_id",
            "created_at",
            "updated_at",
            "inclusions",
            "allocation",
        ],
        Collection::Locations => &["id", "lat", "long", "name", "address"],
        Collection::Deliveries => &[
            "friendly_id",
            "project_name",
            "quantity",
            "price_in_cents_in_currency",
            "delivery_total_in_cents_in_currency",
            "currency",
            "estimated_delivery_date",
            "delivered_date",
            "delivery_status",
            "fulfilled_quantity",
            "delivered_quantity",
            "is_paid",
        ],
        Collection::BatchEvidences => &["id", "url", "evidence_type", "name"],
        Collection::ModelRuns => &[
            "id",
            "start_time",
            "end_time",
            "state",
            "error_message",
            "created_at",
            "updated_at",
            "calculations",
            "output_data_points",
        ],
    }
}

/// Row number `index` (0-based) of `resource` in a fake with the default row counts (42 of
/// every collection). Deterministic: the same arguments always give the same row. The keys are
/// exactly [`columns`]`(resource)`.
///
/// Rows that link to other collections (see [`parent`]) link by row counts, so in a fake built
/// with other counts ask the fake itself: [`FakeMangrove::row`](super::FakeMangrove::row) (which
/// also shows what was written). Collections without links (`Projects`, `Ledgers`, `Orders`,
/// `Locations`, `Deliveries`) are the same whatever the counts.
pub fn row(resource: Collection, index: u64) -> Map<String, Value> {
    seeded(&Links::DEFAULT, resource, index)
}

/// The collection whose rows own the rows of `collection`, if any:
///
/// * `Events`, `EventTypes`, `DataPoints`, `Models`, `Feedstocks`, `TrackingUnits`, `Reports`
///   belong to a project (`Projects`);
/// * `Batches` belong to a feedstock (`Feedstocks`): a batch's `feedstocks` holds that
///   feedstock, whose `project_id` is the batch's project;
/// * `LedgerBatches` belong to a ledger, `BatchEvidences` to a batch, `ModelRuns` to a model;
/// * `Projects`, `Ledgers`, `Orders`, `Locations` and `Deliveries` belong to the account only.
///
/// Seeded row `i` belongs to parent row `i % n` (`n` = the parent collection's row count), so
/// every parent has rows when there are at least as many children as parents.
pub fn parent(collection: Collection) -> Option<Collection> {
    match collection {
        Collection::Events
        | Collection::EventTypes
        | Collection::DataPoints
        | Collection::Models
        | Collection::Feedstocks
        | Collection::TrackingUnits
        | Collection::Reports => Some(Collection::Projects),
        Collection::Batches => Some(Collection::Feedstocks),
        Collection::LedgerBatches => Some(Collection::Ledgers),
        Collection::BatchEvidences => Some(Collection::Batches),
        Collection::ModelRuns => Some(Collection::Models),
        Collection::Projects
        | Collection::Ledgers
        | Collection::Orders
        | Collection::Locations
        | Collection::Deliveries => None,
    }
}

/// The seeded row counts the links between collections are computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Links {
    counts: [u64; 16],
}

impl Links {
    /// 42 rows of every collection (the fake's default).
    pub(crate) const DEFAULT: Links = Links { counts: [42; 16] };

    /// The counts `count` gives.
    pub(crate) fn new(count: impl Fn(Collection) -> u64) -> Links {
        let mut counts = [0; 16];
        for (slot, collection) in counts.iter_mut().zip(Collection::ALL) {
            *slot = count(collection);
        }
        Links { counts }
    }

    /// The seeded row count of `collection`.
    pub(crate) fn count(&self, collection: Collection) -> u64 {
        self.counts[collection.position()]
    }

    /// The parent row (index in [`parent`]`(collection)`) of seeded row `index`.
    pub(crate) fn parent_of(&self, collection: Collection, index: u64) -> Option<u64> {
        let n = self.count(parent(collection)?);
        (n > 0).then(|| index % n)
    }

    /// The project (index in `Projects`) of seeded row `index`, following parents.
    pub(crate) fn project_of(&self, collection: Collection, index: u64) -> Option<u64> {
        match parent(collection)? {
            Collection::Projects => self.parent_of(collection, index),
            up => self.project_of(up, self.parent_of(collection, index)?),
        }
    }
}

/// Seeded row `index` of `resource`, linked by `links`.
pub(crate) fn seeded(links: &Links, resource: Collection, index: u64) -> Map<String, Value> {
    let value = match resource {
        Collection::Projects => project(index),
        Collection::Events => event(links, index),
        Collection::EventTypes => event_type(index),
        Collection::DataPoints => data_point(Collection::DataPoints.salt(), "in_", index),
        Collection::Batches => batch(links, Collection::Batches, index),
        Collection::LedgerBatches => batch(links, Collection::LedgerBatches, index),
        Collection::Ledgers => ledger(index),
        Collection::Orders => order(index),
        Collection::Feedstocks => feedstock(links, index),
        Collection::TrackingUnits => tracking_unit(links, index),
        Collection::Models => model(index),
        Collection::Reports => report(links, index),
        Collection::Locations => location(index),
        Collection::Deliveries => delivery(index),
        Collection::BatchEvidences => evidence(index),
        Collection::ModelRuns => model_run(Collection::ModelRuns.salt(), index),
    };
    match value {
        Value::Object(map) => map,
        // Every builder above returns an object literal.
        _ => Map::new(),
    }
}

/// `project_id` of a seeded row that names its project (`null` in a fake without projects).
fn project_id(links: &Links, collection: Collection, index: u64) -> Value {
    links
        .project_of(collection, index)
        .map_or(Value::Null, |p| json!(p + 1))
}

/// The `Content-Type` of an export file in `format`: `text/csv` or `application/json`.
pub(crate) fn content_type(format: &ExportFormat) -> &'static str {
    match format {
        ExportFormat::Json => "application/json",
        _ => "text/csv",
    }
}

/// Writes rows `0..rows` of `resource` to `w` as an export file in `format` and returns the
/// number of bytes written.
///
/// Rows are generated and written one at a time, so memory stays bounded for any `rows`. `w` is
/// written in many small pieces: pass a buffered writer.
pub fn render(
    resource: Collection,
    rows: u64,
    format: ExportFormat,
    w: &mut impl Write,
) -> io::Result<u64> {
    render_rows(
        columns(resource),
        (0..rows).map(|index| row(resource, index)),
        format,
        w,
    )
}

/// Writes `rows` (objects with the keys `cols`) to `w` as an export file in `format`, one row at a
/// time as the iterator yields it (so a filter in the iterator is evaluated as rows are written,
/// and memory stays bounded), and returns the number of bytes written.
pub(crate) fn render_rows(
    cols: &[&str],
    rows: impl Iterator<Item = Map<String, Value>>,
    format: ExportFormat,
    w: &mut impl Write,
) -> io::Result<u64> {
    let mut out = Counting { inner: w, count: 0 };
    match format {
        ExportFormat::Csv => {
            let mut scratch = Vec::with_capacity(1024);
            for (i, col) in cols.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_csv_field(&mut out, col.as_bytes())?;
            }
            out.write_all(b"\n")?;
            for map in rows {
                for (i, col) in cols.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    if let Some(value) = map.get(*col) {
                        write_csv_cell(&mut out, value, &mut scratch)?;
                    }
                }
                out.write_all(b"\n")?;
            }
        }
        ExportFormat::Json => {
            out.write_all(b"[")?;
            for (index, map) in rows.enumerate() {
                if index > 0 {
                    out.write_all(b",\n")?;
                }
                out.write_all(b"{")?;
                let mut first = true;
                for col in cols {
                    if let Some(value) = map.get(*col) {
                        if !first {
                            out.write_all(b",")?;
                        }
                        first = false;
                        serde_json::to_writer(&mut out, col)?;
                        out.write_all(b":")?;
                        serde_json::to_writer(&mut out, value)?;
                    }
                }
                out.write_all(b"}")?;
            }
            out.write_all(b"]")?;
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the fake writes csv or json files, not {other}"),
            ))
        }
    }
    out.flush()?;
    Ok(out.count)
}

/// Writes rows `0..rows` of `resource` in `format` to a new file in `dir` (through a 1 MiB
/// buffer) and returns its path and size in bytes.
///
/// The file is named `{slug}-{pid}-{n}.{extension}` and is created exclusively (never
/// overwriting anything). If writing fails the partial file is removed.
pub fn materialize(
    resource: Collection,
    rows: u64,
    format: ExportFormat,
    dir: &Path,
) -> io::Result<(PathBuf, u64)> {
    materialize_rows(
        resource,
        (0..rows).map(|index| row(resource, index)),
        format,
        dir,
    )
}

/// Writes `rows` of `resource` to a new file in `dir`, as [`materialize`] does.
pub(crate) fn materialize_rows(
    resource: Collection,
    rows: impl Iterator<Item = Map<String, Value>>,
    format: ExportFormat,
    dir: &Path,
) -> io::Result<(PathBuf, u64)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (path, file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "{}-{}-{}.{}",
            resource.slug(),
            std::process::id(),
            n,
            format.as_str()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let result = write_file(resource, rows, &format, file);
    match result {
        Ok(size) => Ok((path, size)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

fn write_file(
    resource: Collection,
    rows: impl Iterator<Item = Map<String, Value>>,
    format: &ExportFormat,
    file: File,
) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let size = render_rows(columns(resource), rows, format.clone(), &mut w)?;
    w.into_inner().map_err(|e| e.into_error())?;
    Ok(size)
}

/// A writer that counts the bytes it passes on.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.count += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one CSV cell for `value` (see the module docs).
fn write_csv_cell(w: &mut impl Write, value: &Value, scratch: &mut Vec<u8>) -> io::Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => w.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write!(w, "{n}"),
        Value::String(s) => write_csv_field(w, s.as_bytes()),
        Value::Array(_) | Value::Object(_) => {
            scratch.clear();
            serde_json::to_writer(&mut *scratch, value)?;
            write_csv_field(w, scratch)
        }
    }
}

/// Writes `text` as a CSV field, quoted when it contains `,`, `"`, `\n` or `\r`.
fn write_csv_field(w: &mut impl Write, text: &[u8]) -> io::Result<()> {
    if !text
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        return w.write_all(text);
    }
    w.write_all(b"\"")?;
    let mut rest = text;
    while let Some(pos) = rest.iter().position(|&b| b == b'"') {
        w.write_all(&rest[..=pos])?;
        w.write_all(b"\"")?;
        rest = &rest[pos + 1..];
    }
    w.write_all(rest)?;
    w.write_all(b"\"")
}

// ---------------------------------------------------------------------------------------------
// Hashing and value helpers.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finaliser (a bijection on `u64`).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A splitmix64 stream seeded from `(salt, index)`.
struct Gen(u64);

impl Gen {
    fn new(salt: u64, index: u64) -> Gen {
        Gen(mix(index ^ mix(salt)))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A decimal in `0.00..max` with at most two decimals.
    fn amount(&mut self, max: u64) -> f64 {
        self.below(max * 100) as f64 / 100.0
    }
}

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` followed by 16 alphanumerics derived (injectively) from `(salt, n)`.
fn friendly(prefix: &str, salt: u64, n: u64) -> String {
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    // 11 base-62 digits hold any u64 (62^11 > 2^64), so distinct `n` give distinct ids.
    let mut h = mix(n ^ mix(salt.wrapping_mul(0x1000_0000_01B3)));
    let mut tail = mix(h ^ GOLDEN);
    for _ in 0..11 {
        s.push(ALNUM[(h % 62) as usize] as char);
        h /= 62;
    }
    for _ in 0..5 {
        s.push(ALNUM[(tail % 62) as usize] as char);
        tail /= 62;
    }
    s
}

/// 2023-01-01T00:00:00Z in milliseconds since the Unix epoch.
const BASE_MS: i64 = 1_672_531_200_000;
const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 to a (year, month, day) civil date (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
fn timestamp(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `YYYY-MM-DD` for days since the Unix epoch.
fn date(days: i64) -> String {
    let (y, mo, d) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// `created_at` (about a minute apart per index) and an `updated_at` at or after it.
fn created_updated(g: &mut Gen, index: u64) -> (String, String) {
    let created = BASE_MS + (index % 50_000_000) as i64 * 61_000 + g.below(60_000) as i64;
    let updated = if g.chance(1, 3) {
        created
    } else {
        created + g.below(30 * DAY_MS as u64) as i64
    };
    (timestamp(created), timestamp(updated))
}

/// A whole-day range `(start, end)` (`T00:00:00.000Z` .. `T23:59:59.000Z`), `days` long.
fn day_range(g: &mut Gen, index: u64, days: i64) -> (String, String) {
    let first = BASE_MS / DAY_MS + (index % 1_000_000) as i64 / 4 + g.below(30) as i64;
    (
        timestamp(first * DAY_MS),
        timestamp((first + days) * DAY_MS - 1000),
    )
}

/// Which awkward text row `index` carries: the tricky string at `3 (mod 97)`, the non-ASCII one
/// at `4 (mod 97)`.
fn special(index: u64) -> Option<&'static str> {
    match index % 97 {
        3 => Some(TRICKY_TEXT),
        4 => Some(UNICODE_TEXT),
        _ => None,
    }
}

/// Row `index` carries both awkward strings (in resources with two free-text fields).
fn both_special(index: u64) -> bool {
    index % 97 == 3
}

/// A latitude or longitude as a string with 7 decimals, within `±limit` degrees.
fn coordinate(g: &mut Gen, limit: u64) -> String {
    let e7 = g.below(2 * limit * 10_000_000) as i64 - (limit * 10_000_000) as i64;
    let sign = if e7 < 0 { "-" } else { "" };
    let abs = e7.unsigned_abs();
    format!("{sign}{}.{:07}", abs / 10_000_000, abs % 10_000_000)
}

// ---------------------------------------------------------------------------------------------
// Row builders.

fn project(index: u64) -> Value {
    let mut g = Gen::new(Collection::Projects.salt(), index);
    const NAMES: &[&str] = &[
        "Southeast Capture Project",
        "Cascade Biochar",
        "Prairie Carbon Works",
        "Blue Tide Alkalinity",
        "Granite Air Capture",
        "Riverbend Biochar",
    ];
    const TYPES: &[&str] = &[
        "Biochar",
        "Direct Air Capture",
        "Ocean Alkelinity Enhancement",
        "Enhanced Rock Weathering",
        "Bio-oil Sequestration",
    ];
    const PLACES: &[(&str, &str)] = &[
        ("US", "Washington"),
        ("US", "California"),
        ("CA", "British Columbia"),
        ("DE", "Bayern"),
        ("BR", "São Paulo"),
        ("KE", "Nakuru"),
    ];
    const STATUSES: &[&str] = &["DRAFT", "PRE-SALES", "ACTIVE", "CANCELLED"];
    const REGISTRIES: &[&str] = &["Puro.Earth", "Isometric", "Verra"];
    const METHODS: &[&str] = &[
        "Puro Biochar Methodology v3 2023",
        "Isometric Direct Air Capture Protocol v1.0",
        "Verra VM0044",
    ];
    const SDGS: &[&str] = &[
        "no_poverty",
        "good_health_and_wellbeing",
        "quality_education",
        "clean_water_and_sanitation",
        "affordable_and_clean_energy",
        "decent_work_and_economic_growth",
        "climate_action",
        "life_on_land",
    ];
    let id = index + 1;
    let base_name = g.pick(NAMES);
    let (name, description) = if both_special(index) {
        (UNICODE_TEXT.to_string(), TRICKY_TEXT.to_string())
    } else {
        (
            format!("{base_name} {id}"),
            format!(
                "{base_name} is a carbon removal project. It applies innovative interventions to \
                 sequester carbon durably (site {id})."
            ),
        )
    };
    let project_type = g.pick(TYPES);
    let credit_types: Vec<&str> = if g.chance(1, 4) {
        vec!["CORC", "VCU"]
    } else {
        vec!["CORC"]
    };
    let (country, state) = g.pick(PLACES);
    let registry_link = if g.chance(1, 2) {
        String::new()
    } else {
        format!("https://registry.example.com/projects/{id}")
    };
    let images: Vec<Value> = (0..g.below(3))
        .map(|k| {
            json!({
                "name": format!("Image{}.png", k + 1),
                "url": format!("https://cdn.example.com/projects/{id}/image{}.png", k + 1),
            })
        })
        .collect();
    let first_sdg = g.below(SDGS.len() as u64) as usize;
    let sdg_count = 1 + g.below(3) as usize;
    let sdgs: Vec<&str> = (0..sdg_count)
        .map(|k| SDGS[(first_sdg + k) % SDGS.len()])
        .collect();
    json!({
        "id": id,
        "name": name,
        "description": description,
        "project_type": project_type,
        "credit_types": credit_types,
        "country": country,
        "state": state,
        "project_status": g.pick(STATUSES),
        "registry_name": g.pick(REGISTRIES),
        "registry_link": registry_link,
        "methodology": g.pick(METHODS),
        "images": images,
        "sustainable_development_goals": sdgs,
    })
}

/// Data point types: (slug, name, is numeric, unit).
const DATA_POINT_TYPES: &[(&str, &str, bool, &str)] = &[
    (
        "total-ash-delivered-wet-us-ton",
        "Total Ash Delivered (wet mass) U.S. ton",
        true,
        "U.S. ton",
    ),
    (
        "distance-biochar-transported",
        "Biochar distance transported",
        true,
        "mile",
    ),
    ("biochar-end-use", "Biochar end use", false, ""),
    ("feedstock-mass", "Mass of Feedstock", true, "t"),
    (
        "high-conc-co2-outflow-temperature",
        "High concentration CO₂ outflow temperature",
        true,
        "°C",
    ),
    ("moisture-content", "Moisture content", true, "%"),
    ("lab-sample-reference", "Lab sample reference", false, ""),
];

const TEXT_VALUES: &[&str] = &[
    "soil amendment",
    "concrete additive",
    "animal feed",
    "compost blend",
    "LAB-2025-0042",
];

/// A data point object (`id` with `prefix`), as listed or embedded in events.
fn data_point(salt: u64, prefix: &str, index: u64) -> Value {
    let mut g = Gen::new(salt, index);
    let (slug, type_name, numeric, unit) = g.pick(DATA_POINT_TYPES);
    let status = match g.below(10) {
        0 => "pending",
        1 => "incomplete",
        _ => "complete",
    };
    let (type_name, value, unit) = match special(index) {
        Some(text) if salt == Collection::DataPoints.salt() => (
            if both_special(index) {
                UNICODE_TEXT
            } else {
                type_name
            },
            json!(text),
            Value::Null,
        ),
        _ if numeric => (type_name, json!(g.amount(1000)), json!(unit)),
        _ => (type_name, json!(g.pick(TEXT_VALUES)), Value::Null),
    };
    json!({
        "id": friendly(prefix, salt, index),
        "slug": slug,
        "data_point_type": type_name,
        "value": value,
        "unit": unit,
        "status": status,
    })
}

/// Event types: (slug, name).
const EVENT_TYPES: &[(&str, &str)] = &[
    ("biochar-delivery", "Biochar Delivery"),
    ("feedstock-delivery", "Feedstock Delivery"),
    ("co2-capture", "CO2 Capture measurement"),
    ("biochar-production", "Biochar Production"),
    ("lab-analysis", "Lab Analysis"),
];

/// The event type (slug, name) of seeded event `index`: one of its project's event types (event
/// type `j` belongs to project `j % projects`), picked by the index. A project without event
/// types (a fake with fewer event types than projects) gives one of the built-in types.
fn event_type_of(links: &Links, index: u64) -> (String, String) {
    let h = mix(index ^ 0xE7E7_E7E7);
    let projects = links.count(Collection::Projects);
    let types = links.count(Collection::EventTypes);
    match links.parent_of(Collection::Events, index) {
        Some(p) if p < types => {
            let own = (types - 1 - p) / projects + 1;
            event_type_names(p + (h % own) * projects)
        }
        _ => {
            let (slug, name) = EVENT_TYPES[(h % EVENT_TYPES.len() as u64) as usize];
            (slug.to_string(), name.to_string())
        }
    }
}

fn event(links: &Links, index: u64) -> Value {
    let mut g = Gen::new(Collection::Events.salt(), index);
    let (slug, event_type) = event_type_of(links, index);
    let (notes, tracking_id) = if both_special(index) {
        (json!(UNICODE_TEXT), json!(TRICKY_TEXT))
    } else if g.chance(1, 8) {
        (Value::Null, Value::Null)
    } else {
        (Value::Null, json!(format!("MG{}", 1000 + index)))
    };
    let status = match g.below(10) {
        0 => "pending",
        1 => "incomplete",
        _ => "complete",
    };
    let (start, end) = day_range(&mut g, index, 1);
    let (created_at, updated_at) = created_updated(&mut g, index);
    let data_points: Vec<Value> = (0..1 + g.below(3))
        .map(|k| data_point(SALT_EVENT_DATA_POINT, "in_", index * 4 + k))
        .collect();
    let locations: Vec<Value> = (0..g.below(3)).map(|_| location(g.below(10_000))).collect();
    let evidences: Vec<Value> = (0..g.below(3)).map(|_| evidence(g.below(10_000))).collect();
    json!({
        "id": friendly("evt_", Collection::Events.salt(), index),
        "slug": slug,
        "event_type": event_type,
        "tracking_id": tracking_id,
        "status": status,
        "notes": notes,
        "start_time": start,
        "end_time": end,
        "created_at": created_at,
        "updated_at": updated_at,
        "data_points": data_points,
        "locations": locations,
        "evidences": evidences,
    })
}

/// Slug and name of event type row `index`: the five built-in types first, then numbered ones
/// (`biochar-delivery-6`, "Biochar Delivery 6"); awkward names at `3`/`4 (mod 97)`.
pub(crate) fn event_type_names(index: u64) -> (String, String) {
    let (slug, name) = EVENT_TYPES[(index % EVENT_TYPES.len() as u64) as usize];
    let (slug, name) = if index < EVENT_TYPES.len() as u64 {
        (slug.to_string(), name.to_string())
    } else {
        (
            format!("{slug}-{}", index + 1),
            format!("{name} {}", index + 1),
        )
    };
    (slug, special(index).map(str::to_string).unwrap_or(name))
}

fn event_type(index: u64) -> Value {
    let mut g = Gen::new(Collection::EventTypes.salt(), index);
    let (slug, name) = event_type_names(index);
    let first = g.below(DATA_POINT_TYPES.len() as u64) as usize;
    let data_point_types: Vec<Value> = (0..1 + g.below(4) as usize)
        .map(|k| {
            let (slug, name, numeric, unit) =
                DATA_POINT_TYPES[(first + k) % DATA_POINT_TYPES.len()];
            json!({
                "slug": slug,
                "name": name,
                "value_type": if numeric { "number" } else { "string" },
                "unit": if numeric { json!(unit) } else { Value::Null },
            })
        })
        .collect();
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": index + 1,
        "slug": slug,
        "name": name,
        "is_static": g.chance(1, 3),
        "data_point_types": data_point_types,
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

/// Output names: (name, unit).
const OUTPUTS: &[(&str, &str)] = &[
    ("Net Carbon Removal", "t"),
    ("RNG produced", "MMBtu"),
    ("Biochar produced", "t"),
    ("Gross CO₂ captured", "kg"),
];

/// A model-run list item.
fn model_run(salt: u64, index: u64) -> Value {
    let mut g = Gen::new(salt, index);
    let state = match g.below(8) {
        0 => "failed",
        1 => "processing",
        _ => "complete",
    };
    let error_message = match (state, special(index)) {
        (_, Some(text)) if salt == Collection::ModelRuns.salt() => json!(text),
        ("failed", _) => json!("Missing input: feedstock-mass"),
        _ => Value::Null,
    };
    let state = if error_message.is_null() {
        state
    } else {
        "failed"
    };
    let (start, end) = day_range(&mut g, index, 90);
    let (created_at, updated_at) = created_updated(&mut g, index);
    let (calculations, outputs) = if salt == SALT_BATCH_MODEL_RUN {
        (Vec::new(), Vec::new())
    } else {
        let calculations: Vec<Value> = (0..1 + g.below(2))
            .map(|k| {
                let (name, unit) = OUTPUTS[((index + k) % OUTPUTS.len() as u64) as usize];
                json!({
                    "id": index * 2 + k + 1,
                    "name": name,
                    "value": g.amount(10_000),
                    "unit": unit,
                    "ghg": "co2e",
                    "lca_role": if k == 0 { "net" } else { "emission" },
                    "category": if k == 0 { "removal" } else { "emissions" },
                })
            })
            .collect();
        let (name, unit) = OUTPUTS[(index % OUTPUTS.len() as u64) as usize];
        let outputs = vec![json!({
            "id": friendly("dp_", SALT_MODEL_RUN_OUTPUT, index),
            "slug": name.to_lowercase().replace(' ', "-"),
            "data_point_type": name,
            "value": g.amount(10_000),
            "unit": unit,
            "status": "complete",
        })];
        (calculations, outputs)
    };
    json!({
        "id": index + 1,
        "start_time": start,
        "end_time": end,
        "state": state,
        "error_message": error_message,
        "created_at": created_at,
        "updated_at": updated_at,
        "calculations": calculations,
        "output_data_points": outputs,
    })
}

fn batch(links: &Links, resource: Collection, index: u64) -> Value {
    let mut g = Gen::new(resource.salt(), index);
    let state = match g.below(10) {
        0 => "processing",
        1 => "failed",
        _ => "complete",
    };
    let (start, end) = day_range(&mut g, index, 90);
    let tracking_id = match special(index) {
        Some(text) => text.to_string(),
        None => format!(
            "Q{}-{}-{:03}",
            1 + index % 4,
            2023 + index / 4 % 5,
            index + 1
        ),
    };
    let (created_at, updated_at) = created_updated(&mut g, index);
    let (output, unit) = g.pick(OUTPUTS);
    json!({
        "id": friendly("bat_", resource.salt(), index),
        "tracking_id": tracking_id,
        "start_time": start,
        "end_time": end,
        "state": state,
        "created_at": created_at,
        "updated_at": updated_at,
        "primary_output": {
            "id": 1 + g.below(4),
            "name": output,
            "unit": unit,
            "data_point_type_id": 1 + g.below(20),
            "value": g.amount(1000),
        },
        "ledger_balance": g.amount(500),
        "allocations": [],
        "model_run": model_run(SALT_BATCH_MODEL_RUN, index),
        "feedstocks": batch_feedstocks(links, index),
    })
}

/// The `feedstocks` of batch `index`: feedstock `index % feedstocks` (the batch's parent, see
/// [`parent`]), whose `project_id` is the batch's project; empty in a fake without feedstocks.
fn batch_feedstocks(links: &Links, index: u64) -> Vec<Value> {
    let n = links.count(Collection::Feedstocks);
    if n == 0 {
        return Vec::new();
    }
    vec![feedstock(links, index % n)]
}

const LEDGER_NAMES: &[&str] = &[
    "Net Carbon Removal",
    "Biochar Inventory",
    "RNG Production",
    "Retirements",
];

fn ledger(index: u64) -> Value {
    let mut g = Gen::new(Collection::Ledgers.salt(), index);
    let name = special(index)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {}", g.pick(LEDGER_NAMES), index + 1));
    let unit = if g.chance(1, 5) {
        Value::Null
    } else {
        json!(g.pick(&["t", "MMBtu", "kg"]))
    };
    let system_ledger_type = if g.chance(1, 6) {
        json!(g.pick(&["inventory", "retirement"]))
    } else {
        Value::Null
    };
    let partition_type = if g.chance(1, 5) {
        Value::Null
    } else {
        json!(g.pick(&["time", "feedstock"]))
    };
    let cadence = if g.chance(1, 5) {
        Value::Null
    } else {
        json!(g.pick(&["monthly", "quarterly", "annual"]))
    };
    let model_index = g.below(1000);
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": friendly("lgr_", Collection::Ledgers.salt(), index),
        "name": name,
        "unit": unit,
        "system_ledger_type": system_ledger_type,
        "partition_type": partition_type,
        "cadence": cadence,
        "latest_model": {
            "id": friendly("mdl_", Collection::Models.salt(), model_index),
            "name": "Carbon Calculation Model",
        },
        "asset_category": null,
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

const CURRENCIES: &[&str] = &["USD", "EUR", "CAD", "GBP"];
const CUSTOMERS: &[&str] = &[
    "AcmeCo",
    "Globex",
    "Initech",
    "Umbrella Climate",
    "Stark Ind.",
];

/// Currency of order `order_index` (shared by its deliveries).
fn order_currency(order_index: u64) -> &'static str {
    let mut g = Gen::new(Collection::Orders.salt() ^ 0xC0FFEE, order_index);
    g.pick(CURRENCIES)
}

fn order(index: u64) -> Value {
    let mut g = Gen::new(Collection::Orders.salt(), index);
    let (customer, order_terms) = if both_special(index) {
        (UNICODE_TEXT.to_string(), TRICKY_TEXT.to_string())
    } else {
        (
            g.pick(CUSTOMERS).to_string(),
            g.pick(&["Pay on delivery", "Net 30", "Prepaid"])
                .to_string(),
        )
    };
    let deal_day = BASE_MS / DAY_MS + (index % 1_000_000) as i64 / 8 + g.below(30) as i64;
    let expiry_date = if g.chance(1, 2) {
        Value::Null
    } else {
        json!(date(deal_day + 365))
    };
    // Delivery `n` is delivery `n % 2` of order `n / 2`, so `Deliveries` rows match the embedded
    // ones.
    let deliveries: Vec<Value> = (0..1 + g.below(2))
        .map(|k| delivery(index * 2 + k))
        .collect();
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": index + 1,
        "order_status": g.pick(&["COMPLETE", "PENDING", "CANCELLED"]),
        "customer": customer,
        "reference": format!("A{:010}", mix(index) % 10_000_000_000),
        "deal_date": date(deal_day),
        "expiry_date": expiry_date,
        "currency": order_currency(index),
        "order_terms": order_terms,
        "delivery_method": g.pick(&["RETIREMENT", "TRANSFER"]),
        "deliveries": deliveries,
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

fn delivery(index: u64) -> Value {
    let mut g = Gen::new(Collection::Deliveries.salt(), index);
    let project_name = special(index)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Southeast Capture {}", 1 + g.below(50)));
    let quantity = 1 + g.below(100);
    let price = 1000 + g.below(50_000);
    let status = g.pick(&["DELIVERED", "DELIVERED", "PENDING", "CANCELLED"]);
    let estimated = BASE_MS / DAY_MS + (index % 1_000_000) as i64 / 16 + g.below(60) as i64;
    let delivered = status == "DELIVERED";
    json!({
        "friendly_id": friendly("dl_", Collection::Deliveries.salt(), index),
        "project_name": project_name,
        "quantity": quantity,
        "price_in_cents_in_currency": price,
        "delivery_total_in_cents_in_currency": price * quantity,
        "currency": order_currency(index / 2),
        "estimated_delivery_date": date(estimated),
        "delivered_date": if delivered { json!(date(estimated - g.below(10) as i64)) } else { Value::Null },
        "delivery_status": status,
        "fulfilled_quantity": if delivered { quantity } else { 0 },
        "delivered_quantity": if delivered { quantity } else { 0 },
        "is_paid": delivered && g.chance(3, 4),
    })
}

const FEEDSTOCKS: &[&str] = &[
    "Pine sawdust",
    "Almond shells",
    "Corn stover",
    "Rice husk",
    "Forestry residue",
];

fn feedstock(links: &Links, index: u64) -> Value {
    let mut g = Gen::new(Collection::Feedstocks.salt(), index);
    let name = special(index)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} #{}", g.pick(FEEDSTOCKS), index + 1));
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": index + 1,
        "name": name,
        "feedstock_type_id": 1 + g.below(6),
        "project_id": project_id(links, Collection::Feedstocks, index),
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

fn tracking_unit(links: &Links, index: u64) -> Value {
    let mut g = Gen::new(Collection::TrackingUnits.salt(), index);
    let name = special(index).map(str::to_string).unwrap_or_else(|| {
        format!(
            "{} {}-{:04}",
            g.pick(&["Kiln", "Pile", "Truck", "Silo"]),
            1 + g.below(9),
            index + 1
        )
    });
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": friendly("tu_", Collection::TrackingUnits.salt(), index),
        "name": name,
        "project_id": project_id(links, Collection::TrackingUnits, index),
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

fn model(index: u64) -> Value {
    let mut g = Gen::new(Collection::Models.salt(), index);
    let name = special(index).map(str::to_string).unwrap_or_else(|| {
        format!(
            "{} {}",
            g.pick(&[
                "Carbon Calculation Model",
                "LCA Model",
                "Biochar Yield Model"
            ]),
            index / 3 + 1
        )
    });
    let version = index % 3 + 1;
    let (created_at, updated_at) = created_updated(&mut g, index);
    json!({
        "id": friendly("mdl_", Collection::Models.salt(), index),
        "name": name,
        "version": version,
        "is_latest": version == 3,
        "cadence": g.pick(&["monthly", "quarterly", "annual"]),
        "partition_type": g.pick(&["time", "feedstock"]),
        "order": 1 + g.below(10),
        "created_at": created_at,
        "updated_at": updated_at,
    })
}

fn report(links: &Links, index: u64) -> Value {
    let mut g = Gen::new(Collection::Reports.salt(), index);
    let report_type = g.pick(&["quarterly", "annual", "monthly"]);
    let name = special(index).map(str::to_string).unwrap_or_else(|| {
        format!(
            "Q{} {} Carbon Report",
            1 + index % 4,
            2023 + (index / 4) % 5
        )
    });
    let draft = g.chance(1, 4);
    let (created_at, updated_at) = created_updated(&mut g, index);
    let allocation = if draft {
        Value::Null
    } else {
        json!({
            "id": index + 1,
            "amount": g.amount(1000),
            "unit": "t",
            "created_at": updated_at,
        })
    };
    json!({
        "id": friendly("rpt_", Collection::Reports.salt(), index),
        "name": name,
        "report_type": report_type,
        "status": if draft { "draft" } else { "complete" },
        "project_id": project_id(links, Collection::Reports, index),
        "created_at": created_at,
        "updated_at": updated_at,
        "inclusions": [],
        "allocation": allocation,
    })
}

fn location(index: u64) -> Value {
    let mut g = Gen::new(Collection::Locations.salt(), index);
    let name = special(index).map(str::to_string).unwrap_or_else(|| {
        format!(
            "{} {}",
            g.pick(&[
                "Production Facility",
                "Customer Location",
                "Field",
                "Warehouse"
            ]),
            index + 1
        )
    });
    let lat = coordinate(&mut g, 60);
    let long = coordinate(&mut g, 179);
    let full = g.chance(1, 2);
    let street = if both_special(index) {
        json!(TRICKY_TEXT)
    } else if full {
        json!(format!("{} Main Street", 1 + g.below(999)))
    } else {
        Value::Null
    };
    let (city, state, postal_code) = if full {
        let (city, state) = g.pick(&[
            ("Eureka", "CA"),
            ("Spokane", "WA"),
            ("Québec", "QC"),
            ("München", "BY"),
        ]);
        (
            json!(city),
            json!(state),
            json!(format!("{:05}", g.below(100_000))),
        )
    } else {
        (Value::Null, Value::Null, Value::Null)
    };
    json!({
        "id": friendly("loc_", Collection::Locations.salt(), index),
        "lat": lat,
        "long": long,
        "name": name,
        "address": {
            "name": name,
            "street_address_1": street,
            "street_address_2": if full && g.chance(1, 3) { json!("Suite 200") } else { Value::Null },
            "city": city,
            "state": state,
            "postal_code": postal_code,
            "country": if g.chance(1, 10) { Value::Null } else { json!(g.pick(&["US", "CA", "DE"])) },
        },
    })
}

fn evidence(index: u64) -> Value {
    let mut g = Gen::new(Collection::BatchEvidences.salt(), index);
    let id = index + 1;
    let file = g.chance(2, 3);
    let name = special(index).map(str::to_string).unwrap_or_else(|| {
        if file {
            format!("Receipt-{id}.pdf")
        } else {
            "External Reference".to_string()
        }
    });
    json!({
        "id": id,
        "url": if file {
            format!("https://app.gomangrove.com/evidences/{id}/download")
        } else {
            format!("https://www.example.com/references/{id}")
        },
        "evidence_type": if file { "file" } else { "url" },
        "name": name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_exactly_the_columns() {
        for resource in Collection::ALL {
            for index in [0, 1, 3, 4, 96, 97, 100, 1_000_003] {
                let map = row(resource, index);
                let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
                let mut cols = columns(resource).to_vec();
                keys.sort_unstable();
                cols.sort_unstable();
                assert_eq!(keys, cols, "{resource:?} row {index}");
                assert_eq!(map, row(resource, index), "{resource:?} is deterministic");
            }
        }
    }

    #[test]
    fn positions_follow_all() {
        for (i, c) in Collection::ALL.into_iter().enumerate() {
            assert_eq!(c.position(), i, "{c:?}");
        }
    }

    #[test]
    fn links_follow_parents() {
        let links = Links::new(|c| if c == Collection::Projects { 5 } else { 12 });
        // Batch 9 -> feedstock 9 -> project 9 % 5 = 4 (id 5).
        let batch = seeded(&links, Collection::Batches, 9);
        assert_eq!(batch["feedstocks"][0]["id"], json!(10));
        assert_eq!(batch["feedstocks"][0]["project_id"], json!(5));
        assert_eq!(links.project_of(Collection::Batches, 9), Some(4));
        assert_eq!(links.project_of(Collection::BatchEvidences, 21), Some(4));
        assert_eq!(links.project_of(Collection::Orders, 1), None);
        // Event 7 (project 2) has an event type of project 2: type 2 (types 2 and 7 are
        // project 2's).
        let event = seeded(&links, Collection::Events, 7);
        let own: Vec<String> = [2u64, 7].iter().map(|j| event_type_names(*j).0).collect();
        assert!(own.contains(&event["slug"].as_str().unwrap().to_string()));
        for i in 0..12 {
            let fs = seeded(&links, Collection::Feedstocks, i);
            assert_eq!(fs["project_id"], json!(i % 5 + 1));
        }
        // No projects: no project ids, no panic.
        let none = Links::new(|c| if c == Collection::Projects { 0 } else { 3 });
        assert_eq!(
            seeded(&none, Collection::Reports, 1)["project_id"],
            Value::Null
        );
        assert_eq!(
            seeded(&none, Collection::Events, 1)["id"],
            row(Collection::Events, 1)["id"]
        );
    }

    #[test]
    fn resource_types_round_trip() {
        let exportable: Vec<Collection> = Collection::ALL
            .into_iter()
            .filter(|r| r.exportable())
            .collect();
        assert_eq!(exportable.len(), 13);
        for r in Collection::ALL {
            let back = Collection::from_resource_type(r.resource_type());
            assert_eq!(back, r.exportable().then_some(r));
        }
        assert_eq!(Collection::from_resource_type("project"), None);
    }

    #[test]
    fn friendly_ids_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..100_000 {
            let id = friendly("evt_", 2, n);
            assert_eq!(id.len(), 20);
            assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(BASE_MS), "2023-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_736_935_200_000), "2025-01-15T10:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(date(19_782), "2024-02-29");
    }

    #[test]
    fn empty_exports() {
        let mut out = Vec::new();
        assert_eq!(
            render(Collection::Models, 0, ExportFormat::Json, &mut out).ok(),
            Some(2)
        );
        assert_eq!(out, b"[]");
        out.clear();
        let n = render(Collection::Locations, 0, ExportFormat::Csv, &mut out).ok();
        assert_eq!(out, b"id,lat,long,name,address\n");
        assert_eq!(n, Some(out.len() as u64));
    }
}
