//! The value model: collection items that borrow JSON elements or hold computed System values.
//!
//! An [`Item::Element`] points into the evaluated resource (no copy) and carries its FHIR type when
//! known. System values (`Boolean`, `Integer`, `Decimal`, `String`, `Date`, `DateTime`, `Time`,
//! `Quantity`) are owned, except strings that borrow from the resource or the expression.

use std::borrow::Cow;
use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::model::primitive_system_type;
use crate::quantity::Quantity;
use crate::temporal::{DateTime, Time};

/// An ordered FHIRPath collection.
pub type Collection<'a> = Vec<Item<'a>>;

/// A FHIR element in the evaluated JSON: its value, its primitive extension sibling (`_name`),
/// and its FHIR type name when known (`date`, `HumanName`, `Patient`, `Patient.contact`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Element<'a> {
    pub(crate) value: Option<&'a Json>,
    pub(crate) ext: Option<&'a Json>,
    pub(crate) ty: Option<&'a str>,
}

impl<'a> Element<'a> {
    /// An element for `value` with an optional FHIR type.
    #[must_use]
    pub fn new(value: &'a Json, ty: Option<&'a str>) -> Self {
        Self {
            value: Some(value),
            ext: None,
            ty,
        }
    }

    /// The JSON value (absent for a primitive that has only an extension, or for a reference
    /// target known only by type).
    #[must_use]
    pub fn json(&self) -> Option<&'a Json> {
        self.value
    }

    /// The `_name` object holding a primitive's `id` and `extension`, if any.
    #[must_use]
    pub fn primitive_extension(&self) -> Option<&'a Json> {
        self.ext
    }

    /// The FHIR type name, when known.
    #[must_use]
    pub fn type_name(&self) -> Option<&'a str> {
        self.ty
    }
}

/// One item of a collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// A FHIR element borrowed from the input.
    Element(Element<'a>),
    /// System.Boolean
    Boolean(bool),
    /// System.Integer
    Integer(i64),
    /// System.Decimal (exact, keeps its scale: `1.0` and `1.00` differ in scale, not value)
    Decimal(Decimal),
    /// System.String
    String(Cow<'a, str>),
    /// System.Date
    Date(DateTime),
    /// System.DateTime
    DateTime(DateTime),
    /// System.Time
    Time(Time),
    /// System.Quantity
    Quantity(Box<Quantity>),
    /// A type descriptor returned by `type()`.
    TypeInfo {
        /// `System` or `FHIR`.
        namespace: &'static str,
        /// The type name.
        name: Cow<'a, str>,
    },
}

const QUANTITY_TYPES: &[&str] = &[
    "Quantity",
    "Age",
    "Count",
    "Distance",
    "Duration",
    "MoneyQuantity",
    "SimpleQuantity",
];

fn number_item<'a>(n: &serde_json::Number, ty: Option<&str>) -> Option<Item<'a>> {
    let text = n.as_str();
    let integral = !text.contains(['.', 'e', 'E']);
    let want_int = match ty.and_then(primitive_system_type) {
        Some("Integer") => true,
        Some("Decimal") => false,
        _ => integral,
    };
    if want_int
        && integral
        && let Ok(v) = text.parse::<i64>()
    {
        return Some(Item::Integer(v));
    }
    parse_decimal(text).map(Item::Decimal)
}

/// Parses a decimal written in JSON or FHIRPath syntax (exponents allowed), exactly.
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        return Decimal::from_scientific(text).ok();
    }
    text.parse::<Decimal>().ok()
}

fn quantity_of(obj: &serde_json::Map<String, Json>) -> Option<Quantity> {
    let value = match obj.get("value")? {
        Json::Number(n) => parse_decimal(n.as_str())?,
        _ => return None,
    };
    let system = obj.get("system").and_then(Json::as_str);
    let code = obj.get("code").and_then(Json::as_str);
    let unit = match (system, code) {
        (Some("http://unitsofmeasure.org") | None, Some(c)) => c,
        _ => obj.get("unit").and_then(Json::as_str).unwrap_or("1"),
    };
    Some(Quantity::new(value, unit))
}

impl<'a> Item<'a> {
    /// A string item.
    #[must_use]
    pub fn string(s: impl Into<Cow<'a, str>>) -> Self {
        Self::String(s.into())
    }

    /// An untyped element for a JSON value (its type is inferred from the JSON).
    #[must_use]
    pub fn json(value: &'a Json) -> Self {
        let ty = value.get("resourceType").and_then(Json::as_str);
        Self::Element(Element {
            value: Some(value),
            ext: None,
            ty,
        })
    }

    /// The element, if this item is one.
    #[must_use]
    pub fn as_element(&self) -> Option<&Element<'a>> {
        match self {
            Self::Element(e) => Some(e),
            _ => None,
        }
    }

    /// The System value of this item: primitives elements are converted (`date` → `Date`,
    /// `Quantity` → `Quantity`); System values are returned as they are. `None` for complex
    /// elements and primitives without a value.
    #[must_use]
    pub fn to_system(&self) -> Option<Item<'a>> {
        let Self::Element(e) = self else {
            return Some(self.clone());
        };
        let v = e.value?;
        match v {
            Json::Bool(b) => Some(Item::Boolean(*b)),
            Json::Number(n) => number_item(n, e.ty),
            Json::String(s) => Some(match e.ty {
                Some("date") => {
                    DateTime::parse_date(s).map_or(Item::String(Cow::Borrowed(s)), Item::Date)
                }
                Some("dateTime" | "instant") => DateTime::parse_datetime(s)
                    .map_or(Item::String(Cow::Borrowed(s)), Item::DateTime),
                Some("time") => Time::parse(s).map_or(Item::String(Cow::Borrowed(s)), Item::Time),
                _ => Item::String(Cow::Borrowed(s)),
            }),
            Json::Object(o) if e.ty.is_none_or(|t| QUANTITY_TYPES.contains(&t)) => {
                let looks_like =
                    e.ty.is_some() || (o.contains_key("value") && !o.contains_key("resourceType"));
                if looks_like {
                    quantity_of(o).map(|q| Item::Quantity(Box::new(q)))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// True if this is an element without a known type whose JSON is a string.
    pub(crate) fn is_untyped_string(&self) -> bool {
        matches!(
            self,
            Self::Element(Element {
                value: Some(Json::String(_)),
                ty: None,
                ..
            })
        )
    }

    /// The string content, for System strings and string-like primitive elements.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            Self::Element(Element {
                value: Some(Json::String(s)),
                ty,
                ..
            }) if ty.is_none_or(|t| primitive_system_type(t) == Some("String")) => Some(s),
            _ => None,
        }
    }

    /// True for System values and primitive elements (anything `to_system` can convert).
    pub(crate) fn is_primitive(&self) -> bool {
        match self {
            Self::Element(e) => match e.value {
                Some(Json::Object(_)) => self.to_system().is_some(),
                Some(Json::Array(_)) => false,
                Some(_) => true,
                None => false,
            },
            Self::TypeInfo { .. } => false,
            _ => true,
        }
    }

    /// `(namespace, name)` of this item's type: `("System", "Integer")`, `("FHIR", "date")`.
    #[must_use]
    pub fn type_of(&self) -> (&'static str, Cow<'a, str>) {
        let sys = |n: &'static str| ("System", Cow::Borrowed(n));
        match self {
            Self::Boolean(_) => sys("Boolean"),
            Self::Integer(_) => sys("Integer"),
            Self::Decimal(_) => sys("Decimal"),
            Self::String(_) => sys("String"),
            Self::Date(_) => sys("Date"),
            Self::DateTime(_) => sys("DateTime"),
            Self::Time(_) => sys("Time"),
            Self::Quantity(_) => sys("Quantity"),
            Self::TypeInfo { .. } => sys("TypeInfo"),
            Self::Element(e) => match e.ty {
                Some(t) => ("FHIR", Cow::Borrowed(t)),
                None => match self.to_system() {
                    Some(Item::Boolean(_)) => ("FHIR", Cow::Borrowed("boolean")),
                    Some(Item::Integer(_)) => ("FHIR", Cow::Borrowed("integer")),
                    Some(Item::Decimal(_)) => ("FHIR", Cow::Borrowed("decimal")),
                    Some(Item::String(_)) => ("FHIR", Cow::Borrowed("string")),
                    Some(Item::Quantity(_)) => ("FHIR", Cow::Borrowed("Quantity")),
                    _ => ("FHIR", Cow::Borrowed("Element")),
                },
            },
        }
    }

    /// The FHIRPath `toString()` text of a primitive or System value; `None` for complex values.
    #[must_use]
    pub fn to_text(&self) -> Option<String> {
        let item = self.to_system()?;
        let mut s = String::new();
        match &item {
            Item::Boolean(b) => s.push_str(if *b { "true" } else { "false" }),
            Item::Integer(i) => s.push_str(&i.to_string()),
            Item::Decimal(d) => s.push_str(&d.to_string()),
            Item::String(t) => s.push_str(t),
            Item::Date(d) => d.fmt_with(&mut s, true).ok()?,
            Item::DateTime(d) => d.fmt_with(&mut s, false).ok()?,
            Item::Time(t) => write!(s, "{t}").ok()?,
            Item::Quantity(q) => write!(s, "{q}").ok()?,
            Item::TypeInfo { namespace, name } => write!(s, "{namespace}.{name}").ok()?,
            Item::Element(_) => return None,
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_convert_by_type() {
        let d = json!("1974-12-25");
        let e = Item::Element(Element::new(&d, Some("date")));
        assert!(matches!(e.to_system(), Some(Item::Date(_))));
        let untyped = Item::Element(Element::new(&d, None));
        assert!(matches!(untyped.to_system(), Some(Item::String(_))));
        assert!(untyped.is_untyped_string());
        let n: Json = serde_json::from_str("1.50").unwrap();
        let Some(Item::Decimal(x)) = Item::Element(Element::new(&n, None)).to_system() else {
            panic!()
        };
        assert_eq!(x.to_string(), "1.50");
        let n: Json = serde_json::from_str("185").unwrap();
        assert!(matches!(
            Item::Element(Element::new(&n, Some("decimal"))).to_system(),
            Some(Item::Decimal(_))
        ));
        let q = json!({"value": 185, "system": "http://unitsofmeasure.org", "code": "[lb_av]", "unit": "lbs"});
        let Some(Item::Quantity(q)) = Item::Element(Element::new(&q, Some("Quantity"))).to_system()
        else {
            panic!()
        };
        assert_eq!(q.unit, "[lb_av]");
        let name = json!({"family": "x"});
        assert!(
            Item::Element(Element::new(&name, Some("HumanName")))
                .to_system()
                .is_none()
        );
    }

    #[test]
    fn text_and_types() {
        assert_eq!(
            Item::Decimal("1.0".parse().unwrap()).to_text().unwrap(),
            "1.0"
        );
        assert_eq!(Item::Boolean(true).type_of().1, "Boolean");
        let v = json!(true);
        assert_eq!(
            Item::Element(Element::new(&v, Some("boolean"))).type_of(),
            ("FHIR", Cow::Borrowed("boolean"))
        );
    }
}
