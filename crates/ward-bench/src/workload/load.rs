//! The load phase of `read` and `search`: generated patients POSTed as transaction Bundles
//! (so the server's transaction support is exercised), and the ids the server assigned read
//! back from the transaction-response (entry order = request order).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::client::{Client, Session};
use crate::datagen::{self, Summary};
use crate::error::BenchError;
use crate::report::Setup;

/// A loaded patient: the server's id and what the generator knows about it.
#[derive(Debug, Clone)]
pub struct LoadedPatient {
    pub id: String,
    pub summary: Summary,
}

/// The loaded data set.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub patients: Vec<LoadedPatient>,
    /// Every created resource as `Type/id`.
    pub refs: Vec<String>,
    pub setup: Setup,
}

/// `(type, id)` from a location such as `https://h/fhir/Patient/1/_history/2` or `Patient/1`.
pub fn type_and_id(location: &str) -> Option<(String, String)> {
    let path = location.split(['?', '#']).next()?.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').collect();
    let end = segs
        .iter()
        .rposition(|s| *s == "_history")
        .unwrap_or(segs.len());
    let id = segs.get(end.checked_sub(1)?)?;
    let rtype = segs.get(end.checked_sub(2)?)?;
    let is_type = rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    (is_type && !id.is_empty()).then(|| ((*rtype).to_owned(), (*id).to_owned()))
}

/// The `Type/id` of each entry of a transaction-response, in order.
fn response_refs(body: &[u8]) -> Option<Vec<Option<String>>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let entries = v.get("entry")?.as_array()?;
    Some(
        entries
            .iter()
            .map(|e| {
                let loc = e.pointer("/response/location").and_then(Value::as_str);
                if let Some((t, id)) = loc.and_then(type_and_id) {
                    return Some(format!("{t}/{id}"));
                }
                let res = e.get("resource")?;
                let t = res.get("resourceType")?.as_str()?;
                let id = res.get("id")?.as_str()?;
                Some(format!("{t}/{id}"))
            })
            .collect(),
    )
}

struct Shared {
    seed: u64,
    patients: u64,
    per_bundle: u64,
    next: AtomicU64,
}

#[derive(Default)]
struct Part {
    patients: Vec<LoadedPatient>,
    refs: Vec<String>,
    bundles: u64,
    errors: std::collections::BTreeMap<String, u64>,
}

async fn load_worker(shared: Arc<Shared>, mut session: Session) -> Part {
    let mut part = Part::default();
    loop {
        let b = shared.next.fetch_add(1, Ordering::Relaxed);
        let start = b * shared.per_bundle;
        if start >= shared.patients {
            return part;
        }
        let end = (start + shared.per_bundle).min(shared.patients);
        let ps: Vec<datagen::GeneratedPatient> = (start..end)
            .map(|i| datagen::patient(shared.seed, i))
            .collect();
        let bytes =
            Bytes::from(serde_json::to_vec(&datagen::transaction_bundle(&ps)).unwrap_or_default());
        let key = match session.send(Method::POST, "", Some(bytes)).await {
            Ok(r) if r.ok() => match response_refs(&r.body) {
                Some(refs) => {
                    part.bundles += 1;
                    collect(&mut part, ps, &refs);
                    continue;
                }
                None => "unreadable-response".to_owned(),
            },
            Ok(r) => r.status.to_string(),
            Err(f) => f.as_str().to_owned(),
        };
        *part.errors.entry(key).or_default() += 1;
    }
}

fn collect(part: &mut Part, ps: Vec<datagen::GeneratedPatient>, refs: &[Option<String>]) {
    let mut offset = 0;
    for p in ps {
        let n = p.entries.len();
        let mine = refs.get(offset..offset + n).unwrap_or_default();
        offset += n;
        part.refs.extend(mine.iter().flatten().cloned());
        let id = mine
            .first()
            .and_then(|r| r.as_deref())
            .and_then(|r| r.strip_prefix("Patient/"));
        if let Some(id) = id {
            part.patients.push(LoadedPatient {
                id: id.to_owned(),
                summary: p.summary,
            });
        }
    }
}

/// Loads patients `0..patients` under `seed`, `per_bundle` patients per transaction, with
/// `concurrency` parallel requests.
pub async fn load(
    client: &Client,
    seed: u64,
    patients: u64,
    per_bundle: u64,
    concurrency: usize,
) -> Result<Loaded, BenchError> {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        seed,
        patients,
        per_bundle: per_bundle.max(1),
        next: AtomicU64::new(0),
    });
    let handles: Vec<_> = (0..concurrency.max(1))
        .map(|i| tokio::spawn(load_worker(shared.clone(), Session::new(client.clone(), i))))
        .collect();
    let mut all = Part::default();
    for h in handles {
        let part = h
            .await
            .map_err(|e| BenchError::Load(format!("a loader failed: {e}")))?;
        all.patients.extend(part.patients);
        all.refs.extend(part.refs);
        all.bundles += part.bundles;
        for (k, v) in part.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    if all.patients.is_empty() {
        let errors: Vec<String> = all.errors.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        return Err(BenchError::Load(format!(
            "no transaction was accepted ({})",
            errors.join(" ")
        )));
    }
    all.patients.sort_by_key(|p| p.summary.index);
    all.refs.sort();
    let secs = started.elapsed().as_secs_f64();
    let resources = all.refs.len() as u64;
    Ok(Loaded {
        setup: Setup {
            patients: all.patients.len() as u64,
            bundles: all.bundles,
            resources,
            secs: (secs * 100.0).round() / 100.0,
            resources_per_sec: crate::stats::rate(resources, started.elapsed()),
            errors: all.errors,
        },
        patients: all.patients,
        refs: all.refs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let p = |s| type_and_id(s);
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(
            p("https://h:1/fhir/Patient/abc/_history/3"),
            pair("Patient", "abc")
        );
        assert_eq!(p("Observation/9"), pair("Observation", "9"));
        assert_eq!(p("/fhir/Claim/x-1/"), pair("Claim", "x-1"));
        assert_eq!(p("Patient/7/_history/1?x=y"), pair("Patient", "7"));
        assert_eq!(p("abc"), None);
        assert_eq!(p("/fhir/_history/1"), None);
    }

    #[test]
    fn transaction_responses_map_to_refs() {
        let body = br#"{"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created","location":"https://h/fhir/Patient/p1/_history/1"}},
            {"response":{"status":"201"},"resource":{"resourceType":"Observation","id":"o1"}},
            {"response":{"status":"201"}}]}"#;
        let refs = response_refs(body).unwrap();
        assert_eq!(
            refs,
            vec![
                Some("Patient/p1".into()),
                Some("Observation/o1".into()),
                None
            ]
        );
        assert!(response_refs(b"{}").is_none());
    }
}
