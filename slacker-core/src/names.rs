//! The hasher of tables looked up on every call whose keys no peer chooses: the server's name
//! tables (namespace -> service, namespace -> function -> metrics; built at start, only read
//! after), a cluster's membership table (server address -> member, namespace -> route; written
//! by membership changes) and a client's pending calls (keyed by the client's own request
//! ids).
//!
//! std's SipHash defends a table against a peer that inserts colliding keys; into these no
//! peer inserts anything (a peer's names and ids are only looked up), so the defence has
//! nothing to defend. FNV-1a hashes a short key in a few nanoseconds where SipHash's set-up
//! and finish dominated (three lookups were about 6% of a 16-byte request's server CPU). A
//! table keyed by what a peer sends (the server's running requests, by the peer's request id)
//! keeps SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A table keyed by names.
pub(crate) type NameMap<V> = HashMap<String, V, FnvBuild>;

/// Builds [`Fnv`] hashers, for any key.
pub(crate) type FnvBuild = BuildHasherDefault<Fnv>;

/// 64-bit FNV-1a.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors, and a table that finds what it holds and nothing
    /// else.
    #[test]
    fn fnv1a_matches_the_reference_and_the_table_finds_its_names() {
        let hash = |s: &str| {
            let mut h = Fnv::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
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
    }
}
