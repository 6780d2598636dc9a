//! The hasher of tables looked up on every call whose keys no peer chooses: the server's name
//! tables (namespace -> service and its functions' metrics; built at start, only read after),
//! the request decoder's known names, a cluster's membership table (server address -> member,
//! namespace -> route; written by membership changes) and a client's pending calls (keyed by
//! the client's own request ids).
//!
//! std's SipHash defends a table against a peer that inserts colliding keys; into these no
//! peer inserts anything (a peer's names and ids are only looked up), so the defence has
//! nothing to defend, and its set-up and finish dominated a lookup of a short name. These
//! tables use foldhash (`fast::RandomState`: seeded per table, a folded multiply per 8 to 16
//! bytes), the hash hashbrown itself defaults to. FNV-1a, used before, took a multiply per
//! byte: a request's four name lookups (two in the decoder, two in dispatch) cost about 3% of
//! a 16-byte call. A table keyed by what a peer sends (the server's running requests, by the
//! peer's request id) keeps SipHash.

use std::collections::HashMap;

/// Builds the hashers of these tables, for any key.
pub(crate) type FastBuild = foldhash::fast::RandomState;

/// A table keyed by names.
pub(crate) type NameMap<V> = HashMap<String, V, FastBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// A table finds what it holds and nothing else, and names that differ only in the
    /// middle (same length, same first and last bytes: server addresses, dotted namespaces)
    /// do not share a hash.
    #[test]
    fn the_table_finds_its_names_and_similar_names_hash_apart() {
        let names = ["slacker.example.api", "echo", "whoami", "slow", "bench"];
        let table: NameMap<usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(table.get(*n), Some(&i));
        }
        assert_eq!(table.get("ech"), None);
        assert_eq!(table.get("echo\0"), None);

        let build = FastBuild::default();
        let hashes: std::collections::HashSet<u64> = (0..10_000)
            .map(|i| build.hash_one(format!("worker-{i:05}.prod.internal:7001")))
            .collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
