//! Required-binding ValueSet membership (codes expanded at generation time).

use std::collections::{HashMap, HashSet};

use crate::raw::RawValueSet;
use crate::spec::Spec;

/// Result of a code membership test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The value set is enumerated; `true` when the code is in it.
    Enumerable(bool),
    /// Known, but not enumerable offline (BCP-13 mime types, UCUM, ISO 4217, …): do not judge.
    NotEnumerable,
    /// Not a required-binding value set Ward knows.
    Unknown,
}

#[derive(Debug)]
enum Entry {
    Codes(HashMap<String, HashSet<String>>),
    NotEnumerable,
}

#[derive(Debug, Default)]
pub(crate) struct ValueSetTable {
    sets: HashMap<String, Entry>,
}

impl ValueSetTable {
    pub(crate) fn build(raw: Vec<RawValueSet>) -> Self {
        let sets = raw
            .into_iter()
            .map(|v| {
                let entry = match (v.codes, v.not_enumerable) {
                    (Some(codes), None) => Entry::Codes(
                        codes
                            .into_iter()
                            .map(|(s, c)| (s, c.into_iter().collect()))
                            .collect(),
                    ),
                    _ => Entry::NotEnumerable,
                };
                (v.url, entry)
            })
            .collect();
        ValueSetTable { sets }
    }
}

impl Spec {
    /// Tests `code` (optionally qualified by `system`) against a required-binding ValueSet.
    /// `valueset` may carry a `|version` suffix, which is ignored. With `system: None` (a bare
    /// `code` element) any system of the value set matches.
    pub fn code_in_valueset(&self, valueset: &str, system: Option<&str>, code: &str) -> Membership {
        let url = valueset.split_once('|').map_or(valueset, |(u, _)| u);
        match self.valuesets.sets.get(url) {
            None => Membership::Unknown,
            Some(Entry::NotEnumerable) => Membership::NotEnumerable,
            Some(Entry::Codes(by_system)) => Membership::Enumerable(match system {
                Some(s) => by_system.get(s).is_some_and(|codes| codes.contains(code)),
                None => by_system.values().any(|codes| codes.contains(code)),
            }),
        }
    }

    /// The codes of an enumerable required-binding ValueSet as `(system, code)` pairs.
    pub fn valueset_codes(&self, valueset: &str) -> Option<Vec<(&str, &str)>> {
        let url = valueset.split_once('|').map_or(valueset, |(u, _)| u);
        match self.valuesets.sets.get(url)? {
            Entry::NotEnumerable => None,
            Entry::Codes(by_system) => Some(
                by_system
                    .iter()
                    .flat_map(|(s, codes)| codes.iter().map(move |c| (s.as_str(), c.as_str())))
                    .collect(),
            ),
        }
    }
}
