//! Finding a seeded row by its id.
//!
//! Integer ids are `index + 1`. Friendly ids (`bat_…`, `lgr_…`) are `prefix` + 11 base-62 digits
//! of `mix(index ^ mix(salt · K))` + 5 more characters (see `data.rs`); `mix` (the splitmix64
//! finaliser) is a bijection, so the index can be recovered. Whatever the decoding gives is
//! checked against [`data::row`]: an id is found only if the row at that index has exactly that
//! id, so a change in how `data.rs` builds ids makes lookups fail (404) rather than answer a
//! wrong row.

#[cfg(test)]
use serde_json::{Map, Value};

use super::data::{self, Collection};
use super::store;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const M1: u64 = 0xBF58_476D_1CE4_E5B9;
const M2: u64 = 0x94D0_49BB_1331_11EB;
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The index of the seeded row of `resource` (of `rows` rows) whose id is `id`.
pub(crate) fn find_index(resource: Collection, rows: u64, id: &str) -> Option<u64> {
    let index = index_of(resource, id)?;
    if index >= rows {
        return None;
    }
    // Ids do not depend on the links between collections, so the default ones do.
    let row = data::row(resource, index);
    let same = store::same_id(row.get(store::id_key(resource))?, id);
    same.then_some(index)
}

/// The seeded row of `resource` (of `rows` rows) whose id is `id`.
#[cfg(test)]
fn find(resource: Collection, rows: u64, id: &str) -> Option<Map<String, Value>> {
    find_index(resource, rows, id).map(|index| data::row(resource, index))
}

/// The index `id` decodes to (not yet checked against the row).
fn index_of(resource: Collection, id: &str) -> Option<u64> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return id.parse::<u64>().ok()?.checked_sub(1);
    }
    if !id.is_ascii() || id.len() < 16 {
        return None;
    }
    let tail = &id.as_bytes()[id.len() - 16..];
    let mut h: u128 = 0;
    for &b in tail[..11].iter().rev() {
        let digit = ALNUM.iter().position(|&c| c == b)? as u128;
        h = h * 62 + digit;
    }
    let h = u64::try_from(h).ok()?;
    Some(unmix(h) ^ mix(salt(resource).wrapping_mul(0x1000_0000_01B3)))
}

/// The salt `data.rs` uses for `resource`: its position in [`Collection::ALL`], from 1.
fn salt(resource: Collection) -> u64 {
    Collection::ALL
        .iter()
        .position(|r| *r == resource)
        .map_or(0, |i| i as u64 + 1)
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(M1);
    z = (z ^ (z >> 27)).wrapping_mul(M2);
    z ^ (z >> 31)
}

fn unmix(y: u64) -> u64 {
    let mut z = unshift(y, 31);
    z = unshift(z.wrapping_mul(inverse(M2)), 27);
    z = unshift(z.wrapping_mul(inverse(M1)), 30);
    z.wrapping_sub(GOLDEN)
}

/// Inverse of `x ^ (x >> s)`.
fn unshift(y: u64, s: u32) -> u64 {
    let mut x = y;
    for _ in 0..(64 / s + 1) {
        x = y ^ (x >> s);
    }
    x
}

/// Multiplicative inverse of an odd number modulo 2^64 (Newton's iteration).
fn inverse(a: u64) -> u64 {
    let mut x = a;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmix_inverts_mix() {
        for x in [0u64, 1, 42, u64::MAX, 0xDEAD_BEEF] {
            assert_eq!(unmix(mix(x)), x);
        }
    }

    #[test]
    fn every_resource_finds_its_rows_by_id() {
        for resource in Collection::ALL {
            for index in [0u64, 1, 96, 12_345] {
                let row = data::row(resource, index);
                let key = if resource == Collection::Deliveries {
                    "friendly_id"
                } else {
                    "id"
                };
                let id = match row.get(key) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => continue,
                };
                assert_eq!(find(resource, 20_000, &id), Some(row), "{resource:?} {id}");
                assert_eq!(
                    find(resource, index, &id),
                    None,
                    "{resource:?} {id} past the end"
                );
            }
        }
        assert_eq!(find(Collection::Batches, 10, "bat_nonexistent00000"), None);
        assert_eq!(find(Collection::Projects, 10, "0"), None);
        assert_eq!(find(Collection::Projects, 10, "11"), None);
        assert!(find(Collection::Projects, 10, "10").is_some());
    }
}
