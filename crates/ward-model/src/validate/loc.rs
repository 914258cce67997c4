//! Issue locations as a borrowed chain on the stack: nothing is built unless an issue is reported.

/// One step of a location.
#[derive(Clone, Copy)]
enum Seg<'a> {
    /// A name from the specification (trusted).
    Name(&'a str),
    /// A JSON key from the input (shown only if it looks like an element name).
    Key(&'a str),
    Index(usize),
}

/// A location: a parent link plus one segment.
#[derive(Clone, Copy)]
pub(crate) struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    seg: Seg<'a>,
}

impl<'a> Loc<'a> {
    /// The root, named after the resource type.
    pub(crate) fn root(name: &'a str) -> Self {
        Loc {
            parent: None,
            seg: Seg::Name(name),
        }
    }

    /// A property below this location.
    pub(crate) fn field(&'a self, name: &'a str) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Name(name),
        }
    }

    /// A property below this location named by an input key.
    pub(crate) fn key(&'a self, key: &'a str) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    /// An array item below this location.
    pub(crate) fn index(&'a self, i: usize) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    /// Renders `Patient.name[0].given[1]`. Input keys that are not plausible element names are
    /// shown as `*`, so no arbitrary input text reaches an issue.
    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(l) = cur {
            segs.push(l.seg);
            cur = l.parent;
        }
        let mut out = String::new();
        for (i, seg) in segs.iter().rev().enumerate() {
            match seg {
                Seg::Name(n) | Seg::Key(n) => {
                    if i > 0 {
                        out.push('.');
                    }
                    let shown = matches!(seg, Seg::Name(_)) || is_plausible_name(n);
                    out.push_str(if shown { n } else { "*" });
                }
                Seg::Index(k) => {
                    out.push('[');
                    out.push_str(&k.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

fn is_plausible_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fhirpath_style() {
        let root = Loc::root("Patient");
        let name = root.field("name");
        let n0 = name.index(0);
        let given = n0.field("given");
        assert_eq!(given.index(1).render(), "Patient.name[0].given[1]");
        assert_eq!(root.key("John Smith").render(), "Patient.*");
        assert_eq!(root.key("value[x]").render(), "Patient.*");
        assert_eq!(root.field("value[x]").render(), "Patient.value[x]");
    }
}
