//! What the fake keeps: the seeded rows plus every write, per collection.
//!
//! Seeded rows are never stored: row `i < seeded` is generated on demand (see `data.rs`), so a
//! collection of millions of rows costs nothing until it is read. A write is kept beside them:
//! an update replaces row `i` (in `edits`), a create appends a row after the seeded ones (in
//! `added`), with the parent it was created under. Reads, lists, summaries and exports all go
//! through [`Table::row`], so they see the same data. Nothing is ever deleted (the API has no
//! delete operation).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::data::{self, Collection, Links};
use super::lookup;

/// A row as JSON.
pub(crate) type Row = Map<String, Value>;

/// Every collection's kept writes, and the seeded counts they sit on.
pub(crate) struct Store {
    links: Links,
    tables: HashMap<Collection, Arc<Writes>>,
}

/// The writes kept for one collection. Shared (`Arc`) with the export jobs that read a
/// snapshot of it; a write makes a new copy when a job still holds the old one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Writes {
    /// Updated rows, by index (seeded or added).
    edits: HashMap<u64, Row>,
    /// Created rows, after the seeded ones, with their parent's index.
    added: Vec<(Row, Option<u64>)>,
}

/// One collection as it is now (or was when an export started): seeded rows and writes.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) collection: Collection,
    links: Links,
    writes: Arc<Writes>,
}

impl Store {
    /// The seeded state: `links` gives each collection's seeded row count.
    pub(crate) fn new(links: Links) -> Store {
        Store {
            links,
            tables: HashMap::new(),
        }
    }

    /// Forgets every write.
    pub(crate) fn reset(&mut self) {
        self.tables.clear();
    }

    /// `collection` as it is now (cheap: the writes are shared, not copied).
    pub(crate) fn table(&self, collection: Collection) -> Table {
        Table {
            collection,
            links: self.links,
            writes: self.tables.get(&collection).cloned().unwrap_or_default(),
        }
    }

    fn writes(&mut self, collection: Collection) -> &mut Writes {
        Arc::make_mut(self.tables.entry(collection).or_default())
    }

    /// Replaces row `index` of `collection` (which must exist).
    pub(crate) fn update(&mut self, collection: Collection, index: u64, row: Row) {
        self.writes(collection).edits.insert(index, row);
    }

    /// Appends a row to `collection` under parent row `parent`; returns its index.
    pub(crate) fn add(&mut self, collection: Collection, row: Row, parent: Option<u64>) -> u64 {
        let seeded = self.links.count(collection);
        let writes = self.writes(collection);
        writes.added.push((row, parent));
        seeded + writes.added.len() as u64 - 1
    }
}

impl Table {
    /// Number of rows (seeded and created).
    pub(crate) fn len(&self) -> u64 {
        self.seeded() + self.writes.added.len() as u64
    }

    fn seeded(&self) -> u64 {
        self.links.count(self.collection)
    }

    /// Row `index` as it is now, or `None` past the end.
    pub(crate) fn row(&self, index: u64) -> Option<Row> {
        // Checked for emptiness first: seeded exports of millions of rows pass here per row.
        if !self.writes.edits.is_empty() {
            if let Some(row) = self.writes.edits.get(&index) {
                return Some(row.clone());
            }
        }
        let seeded = self.seeded();
        if index < seeded {
            return Some(data::seeded(&self.links, self.collection, index));
        }
        let added = usize::try_from(index - seeded).ok()?;
        self.writes.added.get(added).map(|(row, _)| row.clone())
    }

    /// The parent row (index in [`data::parent`]`(collection)`) of row `index`.
    pub(crate) fn parent_of(&self, index: u64) -> Option<u64> {
        let seeded = self.seeded();
        if index < seeded {
            return self.links.parent_of(self.collection, index);
        }
        let added = usize::try_from(index - seeded).ok()?;
        self.writes.added.get(added).and_then(|(_, parent)| *parent)
    }

    /// The index of the row whose id (`friendly_id` for deliveries) is `id`.
    pub(crate) fn find(&self, id: &str) -> Option<u64> {
        let seeded = self.seeded();
        if let Some(index) = lookup::find_index(self.collection, seeded, id) {
            return Some(index);
        }
        let key = id_key(self.collection);
        self.writes
            .added
            .iter()
            .position(|(row, _)| row.get(key).is_some_and(|v| same_id(v, id)))
            .map(|i| seeded + i as u64)
    }
}

/// The key that holds a row's id.
pub(crate) fn id_key(collection: Collection) -> &'static str {
    if collection == Collection::Deliveries {
        "friendly_id"
    } else {
        "id"
    }
}

/// Whether the JSON id `value` is `id` (an integer id compares as its decimal text).
pub(crate) fn same_id(value: &Value, id: &str) -> bool {
    match value {
        Value::Number(n) => n.as_u64().is_some_and(|n| n.to_string() == id),
        Value::String(s) => s == id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_are_kept_and_reset() {
        let mut store = Store::new(Links::DEFAULT);
        let before = store.table(Collection::Ledgers);
        let mut row = before.row(1).unwrap();
        row.insert("name".into(), json!("renamed"));
        store.update(Collection::Ledgers, 1, row.clone());
        let mut added = data::row(Collection::Ledgers, 0);
        added.insert("id".into(), json!("lgr_new"));
        assert_eq!(store.add(Collection::Ledgers, added.clone(), None), 42);

        let now = store.table(Collection::Ledgers);
        assert_eq!(now.len(), 43);
        assert_eq!(now.row(1), Some(row));
        assert_eq!(now.row(42), Some(added));
        assert_eq!(now.row(43), None);
        assert_eq!(now.find("lgr_new"), Some(42));
        let seeded_id = data::row(Collection::Ledgers, 5)["id"].clone();
        assert_eq!(now.find(seeded_id.as_str().unwrap()), Some(5));
        // A snapshot taken before the writes does not see them.
        assert_eq!(before.len(), 42);
        assert_eq!(before.row(1), Some(data::row(Collection::Ledgers, 1)));

        store.reset();
        assert_eq!(store.table(Collection::Ledgers).len(), 42);
        assert_eq!(store.table(Collection::Ledgers).find("lgr_new"), None);
    }

    #[test]
    fn parents_of_seeded_and_added_rows() {
        let mut store = Store::new(Links::DEFAULT);
        let events = store.table(Collection::Events);
        assert_eq!(events.parent_of(5), Some(5));
        assert_eq!(events.parent_of(42), None, "past the end");
        let index = store.add(Collection::Events, Row::new(), Some(7));
        assert_eq!(store.table(Collection::Events).parent_of(index), Some(7));
    }
}
