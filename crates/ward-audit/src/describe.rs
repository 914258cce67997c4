//! What the admin events say (`outcomeDesc`) and whom they concern, shared by the admin API
//! and the `ward` commands, so that one step reads the same in the trail whichever way it was
//! taken.

/// `launch-created`: the launch's lifetime, the patient ids and the other resources (the
/// encounter) of its context. Never the launch id, which opens that context to an app.
pub fn launch_created(
    valid_secs: i64,
    patient: Option<&str>,
    encounter: Option<&str>,
) -> (String, Vec<String>, Vec<String>) {
    (
        format!("launch created, valid for {} minutes", valid_secs / 60),
        patient.into_iter().map(str::to_owned).collect(),
        encounter
            .into_iter()
            .map(|e| format!("Encounter/{e}"))
            .collect(),
    )
}

/// `admin-list-read`: what was listed, and how many.
pub fn listed(what: &str, n: usize) -> String {
    format!("{what} listed ({n})")
}

/// What a break-glass list read lists: every grant, or (by default) the unreviewed ones.
pub fn break_glass_list(all: bool) -> &'static str {
    if all {
        "break-glass grants"
    } else {
        "unreviewed break-glass grants"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_event_texts() {
        assert_eq!(
            launch_created(3_599, Some("p1"), Some("e1")),
            (
                "launch created, valid for 59 minutes".to_owned(),
                vec!["p1".to_owned()],
                vec!["Encounter/e1".to_owned()]
            )
        );
        assert_eq!(launch_created(600, None, None).1, Vec::<String>::new());
        assert_eq!(listed("clients", 2), "clients listed (2)");
        assert_eq!(break_glass_list(false), "unreviewed break-glass grants");
        assert_eq!(break_glass_list(true), "break-glass grants");
    }
}
