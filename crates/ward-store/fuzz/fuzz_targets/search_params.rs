//! Fuzz target: any query string must parse into a search or fail cleanly (no panic), and
//! whatever parses must compile to SQL without panicking, for every query shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_store::search::plan::{self, Sqlite};
use ward_store::search::{ParseOptions, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let params: Vec<(String, String)> = text
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let opts = ParseOptions {
        base_url: "https://fuzz.example/fhir",
        now_us: 1_700_000_000_000_000,
        default_count: 10,
        max_count: 100,
        strict: false,
        registry: None,
    };
    for types in [Some(&["Observation"][..]), Some(&["Patient"][..]), None] {
        if let Ok(s) = parse(types, &params, &opts) {
            let q = s.query;
            let _ = plan::page_sql(&q, 100, plan::shape(&q), 11, &Sqlite);
            let _ = plan::count_sql(&q, 100, &Sqlite);
            for inc in q.includes.iter().chain(&q.revincludes) {
                let _ = plan::include_sql(&[1, 2], inc, &Sqlite);
                let _ = plan::revinclude_sql(&["a".to_owned()], inc, &Sqlite);
            }
        }
    }
});
