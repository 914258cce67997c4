//! Writes Bundle JSON text directly, splicing stored resource text in without re-parsing it.
//! History and search pages are built here; the result is valid FHIR JSON.

use bytes::Bytes;
use serde_json::Value;
use ward_store::Timestamp;

/// `Bundle.entry.response` parts.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryResponse {
    pub status: String,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub outcome: Option<Value>,
}

/// One entry.
#[derive(Debug, Default)]
pub(crate) struct Entry<'a> {
    pub full_url: Option<String>,
    /// Resource JSON text.
    pub resource: Option<&'a [u8]>,
    pub search_mode: Option<&'static str>,
    pub request: Option<(&'static str, String)>,
    pub response: Option<EntryResponse>,
}

/// Incremental Bundle writer.
pub(crate) struct BundleWriter {
    buf: Vec<u8>,
    entries: usize,
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

impl BundleWriter {
    /// Starts a bundle of `kind` (`history`, `searchset`, `batch-response`, …).
    pub(crate) fn new(
        kind: &str,
        now: Timestamp,
        total: Option<u64>,
        links: &[(&str, String)],
    ) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(br#"{"resourceType":"Bundle","id":"#);
        push_str(&mut buf, &uuid::Uuid::new_v4().to_string());
        buf.extend_from_slice(br#","meta":{"lastUpdated":"#);
        push_str(&mut buf, &now.to_fhir_instant());
        buf.extend_from_slice(br#"},"type":"#);
        push_str(&mut buf, kind);
        if let Some(total) = total {
            buf.extend_from_slice(format!(r#","total":{total}"#).as_bytes());
        }
        if !links.is_empty() {
            buf.extend_from_slice(br#","link":["#);
            for (i, (rel, url)) in links.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(br#"{"relation":"#);
                push_str(&mut buf, rel);
                buf.extend_from_slice(br#","url":"#);
                push_str(&mut buf, url);
                buf.push(b'}');
            }
            buf.push(b']');
        }
        Self { buf, entries: 0 }
    }

    /// Appends an entry.
    pub(crate) fn entry(&mut self, e: &Entry<'_>) {
        let b = &mut self.buf;
        b.extend_from_slice(if self.entries == 0 {
            br#","entry":[{"#
        } else {
            b",{"
        });
        self.entries += 1;
        let mut sep = false;
        let mut key = |b: &mut Vec<u8>, k: &str| {
            if sep {
                b.push(b',');
            }
            sep = true;
            push_str(b, k);
            b.push(b':');
        };
        if let Some(u) = &e.full_url {
            key(b, "fullUrl");
            push_str(b, u);
        }
        if let Some(r) = e.resource {
            key(b, "resource");
            b.extend_from_slice(r);
        }
        if let Some(mode) = e.search_mode {
            key(b, "search");
            b.extend_from_slice(br#"{"mode":"#);
            push_str(b, mode);
            b.push(b'}');
        }
        if let Some((method, url)) = &e.request {
            key(b, "request");
            b.extend_from_slice(br#"{"method":"#);
            push_str(b, method);
            b.extend_from_slice(br#","url":"#);
            push_str(b, url);
            b.push(b'}');
        }
        if let Some(resp) = &e.response {
            key(b, "response");
            write_response(b, resp);
        }
        b.push(b'}');
    }

    /// Closes the bundle.
    pub(crate) fn finish(mut self) -> Bytes {
        if self.entries > 0 {
            self.buf.push(b']');
        }
        self.buf.push(b'}');
        Bytes::from(self.buf)
    }
}

fn write_response(b: &mut Vec<u8>, r: &EntryResponse) {
    b.extend_from_slice(br#"{"status":"#);
    push_str(b, &r.status);
    for (k, v) in [
        ("location", &r.location),
        ("etag", &r.etag),
        ("lastModified", &r.last_modified),
    ] {
        if let Some(v) = v {
            b.push(b',');
            push_str(b, k);
            b.push(b':');
            push_str(b, v);
        }
    }
    if let Some(o) = &r.outcome {
        b.extend_from_slice(br#","outcome":"#);
        let _ = serde_json::to_writer(&mut *b, o);
    }
    b.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let mut w = BundleWriter::new(
            "history",
            Timestamp(0),
            Some(2),
            &[("self", "https://x/fhir/_history?a=\"b\"".into())],
        );
        w.entry(&Entry {
            full_url: Some("https://x/fhir/Patient/1".into()),
            resource: Some(br#"{"resourceType":"Patient","id":"1"}"#),
            request: Some(("PUT", "Patient/1".into())),
            response: Some(EntryResponse {
                status: "200".into(),
                etag: Some("W/\"2\"".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        w.entry(&Entry {
            request: Some(("DELETE", "Patient/2".into())),
            ..Default::default()
        });
        let v: Value = serde_json::from_slice(&w.finish()).unwrap();
        assert_eq!(v["type"], "history");
        assert_eq!(v["total"], 2);
        assert_eq!(v["link"][0]["url"], "https://x/fhir/_history?a=\"b\"");
        assert_eq!(v["entry"][0]["resource"]["id"], "1");
        assert_eq!(v["entry"][0]["response"]["etag"], "W/\"2\"");
        assert_eq!(v["entry"][1]["request"]["method"], "DELETE");
        let empty: Value = serde_json::from_slice(
            &BundleWriter::new("searchset", Timestamp(0), Some(0), &[]).finish(),
        )
        .unwrap();
        assert!(empty.get("entry").is_none());
    }
}
