//! Turns FHIRPath results into index rows, per parameter type and FHIR data type
//! (search.html: string, token, reference, date, number, quantity and uri rules).

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use ward_fhirpath::Item;
use ward_spec::SearchParamType as K;

use super::text::normalize;
use super::time::{MAX, MIN, parse_range};
use super::{
    DateRow, IndexRows, Keys, NumberRow, QuantityRow, RefRow, SortDateRow, StringRow, TokenRow,
    UriRow,
};

/// What one result item is, as far as indexing cares.
enum Val<'a> {
    Str(&'a str),
    Owned(String),
    Bool(bool),
    Num(Decimal),
    Obj(&'a Map<String, Value>, Option<&'a str>),
}

fn classify<'a>(item: &Item<'a>) -> Option<Val<'a>> {
    match item {
        Item::Element(e) => {
            let ty = e.type_name();
            match e.json()? {
                Value::String(s) => Some(Val::Str(s)),
                Value::Bool(b) => Some(Val::Bool(*b)),
                Value::Number(n) => decimal(n.as_str()).map(Val::Num),
                Value::Object(o) => Some(Val::Obj(o, ty)),
                _ => None,
            }
        }
        Item::Boolean(b) => Some(Val::Bool(*b)),
        Item::Integer(i) => Some(Val::Num(Decimal::from(*i))),
        Item::Decimal(d) => Some(Val::Num(*d)),
        Item::String(s) => Some(Val::Owned(s.to_string())),
        Item::Date(_) | Item::DateTime(_) => item.to_text().map(Val::Owned),
        _ => None,
    }
}

pub(crate) fn decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    }
}

/// The value and the `[lo, hi)` range implied by its precision (`1.5` → `[1.45, 1.55)`).
pub(crate) fn number_range(d: Decimal) -> (f64, f64, f64) {
    let v = to_f64(d);
    let half = Decimal::new(5, d.scale().saturating_add(1));
    let lo = d.checked_sub(half).map_or(v, to_f64);
    let hi = d.checked_add(half).map_or(v, to_f64);
    (v, lo, hi)
}

pub(crate) fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

/// Guesses the FHIR type of an untyped JSON object from its keys.
fn infer(o: &Map<String, Value>) -> &'static str {
    let has = |k: &str| o.contains_key(k);
    if has("coding") {
        "CodeableConcept"
    } else if has("reference") || (has("identifier") && !has("value")) {
        "Reference"
    } else if has("family") || has("given") {
        "HumanName"
    } else if has("line") || has("city") || has("postalCode") {
        "Address"
    } else if has("start") || has("end") {
        "Period"
    } else if has("value") && (has("unit") || has("code") || has("currency")) {
        "Quantity"
    } else if has("system") && has("code") {
        "Coding"
    } else if has("value") && has("system") {
        "Identifier"
    } else {
        ""
    }
}

fn strs<'a>(o: &'a Map<String, Value>, key: &str) -> Vec<&'a str> {
    match o.get(key) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

pub(crate) struct Extractor<'r> {
    rows: &'r mut IndexRows,
    base: &'r str,
}

impl<'r> Extractor<'r> {
    pub(crate) fn new(rows: &'r mut IndexRows, base: &'r str) -> Self {
        Self { rows, base }
    }

    pub(crate) fn items(mut self, k: &Keys, items: &[Item<'_>]) {
        for item in items {
            let Some(v) = classify(item) else { continue };
            match k.kind {
                K::String => self.string(k, &v),
                K::Token => self.token(k, &v),
                K::Reference => self.reference(k, &v),
                K::Date => self.date(k, &v),
                K::Number => self.number(k, &v),
                K::Quantity => self.quantity(k, &v),
                K::Uri => self.uri(k, &v),
                K::Composite | K::Special => {}
            }
        }
    }

    fn push_string(&mut self, pkey: i64, grp: Option<i64>, s: &str) {
        if s.is_empty() {
            return;
        }
        self.rows.strings.push(StringRow {
            pkey,
            grp,
            norm: normalize(s),
            exact: s.to_owned(),
        });
    }

    fn string(&mut self, k: &Keys, v: &Val<'_>) {
        let parts: Vec<&str> = match v {
            Val::Str(s) => vec![s],
            Val::Owned(s) => vec![s.as_str()],
            Val::Obj(o, ty) => match ty.unwrap_or_else(|| infer(o)) {
                "HumanName" => ["text", "family", "given", "prefix", "suffix"]
                    .iter()
                    .flat_map(|key| strs(o, key))
                    .collect(),
                "Address" => [
                    "text",
                    "line",
                    "city",
                    "district",
                    "state",
                    "postalCode",
                    "country",
                ]
                .iter()
                .flat_map(|key| strs(o, key))
                .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for p in parts {
            self.push_string(k.pkey, k.grp, p);
        }
    }

    fn push_token(&mut self, k: &Keys, system: Option<&str>, code: &str) {
        if code.is_empty() {
            return;
        }
        self.rows.tokens.push(TokenRow {
            pkey: k.pkey,
            grp: k.grp,
            system: system.filter(|s| !s.is_empty()).map(str::to_owned),
            code: code.to_owned(),
        });
    }

    fn push_text(&mut self, k: &Keys, text: Option<&str>) {
        if let (Some(pkey), Some(t)) = (k.text, text) {
            self.push_string(pkey, None, t);
        }
    }

    fn token(&mut self, k: &Keys, v: &Val<'_>) {
        match v {
            Val::Str(s) => self.push_token(k, None, s),
            Val::Owned(s) => self.push_token(k, None, s),
            Val::Bool(b) => self.push_token(k, None, if *b { "true" } else { "false" }),
            Val::Num(n) => self.push_token(k, None, &n.to_string()),
            Val::Obj(o, ty) => match ty.unwrap_or_else(|| infer(o)) {
                "CodeableConcept" => self.codeable_concept(k, o),
                "Coding" => self.coding(k, o),
                "Identifier" => self.identifier(k, o),
                "ContactPoint" => {
                    if let Some(value) = str_of(o, "value") {
                        self.push_token(k, str_of(o, "system"), value);
                    }
                }
                _ => {}
            },
        }
    }

    fn coding(&mut self, k: &Keys, o: &Map<String, Value>) {
        if let Some(code) = str_of(o, "code") {
            self.push_token(k, str_of(o, "system"), code);
        }
        self.push_text(k, str_of(o, "display"));
    }

    fn codeable_concept(&mut self, k: &Keys, o: &Map<String, Value>) {
        if let Some(Value::Array(codings)) = o.get("coding") {
            for c in codings.iter().filter_map(Value::as_object) {
                self.coding(k, c);
            }
        }
        self.push_text(k, str_of(o, "text"));
    }

    fn identifier(&mut self, k: &Keys, o: &Map<String, Value>) {
        let Some(value) = str_of(o, "value") else {
            return;
        };
        self.push_token(k, str_of(o, "system"), value);
        let Some(Value::Object(ty)) = o.get("type") else {
            return;
        };
        self.push_text(k, str_of(ty, "text"));
        let (Some(pkey), Some(Value::Array(codings))) = (k.of_type, ty.get("coding")) else {
            return;
        };
        for c in codings.iter().filter_map(Value::as_object) {
            if let Some(code) = str_of(c, "code") {
                let of_type = Keys { pkey, ..*k };
                self.push_token(&of_type, str_of(c, "system"), &format!("{code}|{value}"));
            }
        }
    }

    fn reference(&mut self, k: &Keys, v: &Val<'_>) {
        match v {
            Val::Str(s) => self.canonical(k, s),
            Val::Owned(s) => self.canonical(k, s),
            Val::Obj(o, ty) => {
                let ty = ty.unwrap_or_else(|| infer(o));
                if ty != "Reference" && !o.contains_key("reference") {
                    return;
                }
                if let Some(r) = str_of(o, "reference") {
                    self.reference_string(k, r);
                }
                if let (Some(pkey), Some(Value::Object(id))) = (k.identifier, o.get("identifier"))
                    && let Some(value) = str_of(id, "value")
                {
                    let ident = Keys { pkey, ..*k };
                    self.push_token(&ident, str_of(id, "system"), value);
                }
            }
            _ => {}
        }
    }

    fn canonical(&mut self, k: &Keys, s: &str) {
        if s.is_empty() {
            return;
        }
        let (url, ver) = match s.split_once('|') {
            Some((u, v)) => (u, Some(v.to_owned())),
            None => (s, None),
        };
        self.rows.refs.push(RefRow {
            pkey: k.pkey,
            grp: k.grp,
            ttype: None,
            tid: url.to_owned(),
            ver,
        });
    }

    fn reference_string(&mut self, k: &Keys, r: &str) {
        let local = r
            .strip_prefix(self.base)
            .and_then(|t| t.strip_prefix('/'))
            .filter(|_| !self.base.is_empty())
            .unwrap_or(r);
        use ward_model::reference::Reference as R;
        let (ttype, tid) = match ward_model::parse_reference(local) {
            Ok(R::Relative {
                resource_type, id, ..
            }) => (Some(resource_type.to_owned()), id.to_owned()),
            Ok(R::Absolute { url, .. }) => (None, url.to_owned()),
            Ok(R::UrnOid(u) | R::UrnUuid(u)) => (None, u.to_owned()),
            _ => return,
        };
        self.rows.refs.push(RefRow {
            pkey: k.pkey,
            grp: k.grp,
            ttype,
            tid,
            ver: None,
        });
    }

    fn push_date(&mut self, k: &Keys, lo: i64, hi: i64) {
        self.rows.dates.push(DateRow {
            pkey: k.pkey,
            grp: k.grp,
            lo,
            hi,
        });
    }

    fn date(&mut self, k: &Keys, v: &Val<'_>) {
        match v {
            Val::Str(s) => {
                if let Some((lo, hi)) = parse_range(s) {
                    self.push_date(k, lo, hi);
                }
            }
            Val::Owned(s) => {
                if let Some((lo, hi)) = parse_range(s) {
                    self.push_date(k, lo, hi);
                }
            }
            Val::Obj(o, ty) => match ty.unwrap_or_else(|| infer(o)) {
                "Period" => self.period(k, o),
                "Timing" => {
                    for e in strs(o, "event") {
                        if let Some((lo, hi)) = parse_range(e) {
                            self.push_date(k, lo, hi);
                        }
                    }
                    if let Some(Value::Object(rep)) = o.get("repeat")
                        && let Some(Value::Object(b)) = rep.get("boundsPeriod")
                    {
                        self.period(k, b);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn period(&mut self, k: &Keys, o: &Map<String, Value>) {
        let start = str_of(o, "start").and_then(parse_range);
        let end = str_of(o, "end").and_then(parse_range);
        if start.is_none() && end.is_none() {
            return;
        }
        let lo = start.map_or(MIN, |(lo, _)| lo);
        let hi = end.map_or(MAX, |(_, hi)| hi);
        self.push_date(k, lo, hi.max(lo));
    }

    fn number(&mut self, k: &Keys, v: &Val<'_>) {
        let d = match v {
            Val::Num(d) => *d,
            Val::Str(s) => match decimal(s) {
                Some(d) => d,
                None => return,
            },
            _ => return,
        };
        let (value, lo, hi) = number_range(d);
        self.rows.numbers.push(NumberRow {
            pkey: k.pkey,
            grp: k.grp,
            value,
            lo,
            hi,
        });
    }

    fn quantity(&mut self, k: &Keys, v: &Val<'_>) {
        let (d, system, code, unit) = match v {
            Val::Num(d) => (*d, None, None, None),
            Val::Obj(o, _) => {
                let Some(Value::Number(n)) = o.get("value") else {
                    return;
                };
                let Some(d) = decimal(n.as_str()) else { return };
                match str_of(o, "currency") {
                    Some(cur) => (d, Some("urn:iso:std:iso:4217"), Some(cur), None),
                    None => (d, str_of(o, "system"), str_of(o, "code"), str_of(o, "unit")),
                }
            }
            _ => return,
        };
        let (value, lo, hi) = number_range(d);
        let own = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        self.rows.quantities.push(QuantityRow {
            pkey: k.pkey,
            grp: k.grp,
            value,
            lo,
            hi,
            system: own(system),
            code: own(code),
            unit: own(unit),
        });
    }

    fn uri(&mut self, k: &Keys, v: &Val<'_>) {
        let s = match v {
            Val::Str(s) => *s,
            Val::Owned(s) => s.as_str(),
            _ => return,
        };
        if !s.is_empty() {
            self.rows.uris.push(UriRow {
                pkey: k.pkey,
                grp: k.grp,
                uri: s.to_owned(),
            });
        }
    }
}

/// Adds one sort row per date parameter (not composite components): lowest start, highest end.
pub(crate) fn sort_keys(rows: &mut IndexRows) {
    let mut keys: Vec<SortDateRow> = Vec::new();
    for d in rows.dates.iter().filter(|d| d.grp.is_none()) {
        match keys.iter_mut().find(|k| k.pkey == d.pkey) {
            Some(k) => {
                k.lo = k.lo.min(d.lo);
                k.hi = k.hi.max(d.hi);
            }
            None => keys.push(SortDateRow {
                pkey: d.pkey,
                lo: d.lo,
                hi: d.hi,
            }),
        }
    }
    rows.sort_dates = keys;
}
