//! Runs the HL7 FHIRPath conformance suite (`tests-fhir-r4.xml`) against ward-fhirpath.
//!
//! Usage: `cargo run -p ward-fhirpath --example conformance -- ../shared/fhir-test-cases/fhirpath
//! [-v]`. Prints per-group results, every failure with its reason, and `N passed, M failed`.
//! All tests run in one configuration: the R4 model from ward-spec, strict mode, and the system
//! clock as `now()` (this example, not the library, reads the clock).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use ward_fhirpath::{Context, DateTime, Decimal, Expr, Item, SpecModel};

struct Test {
    group: String,
    name: String,
    input: Option<String>,
    expr: String,
    invalid: bool,
    predicate: bool,
    ordered: bool,
    outputs: Vec<(Option<String>, String)>,
}

fn load_tests(xml: &str) -> Result<Vec<Test>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let mut tests = Vec::new();
    for group in doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("group"))
    {
        let gname = group.attribute("name").unwrap_or("?").to_owned();
        for t in group.children().filter(|n| n.has_tag_name("test")) {
            let Some(e) = t.children().find(|n| n.has_tag_name("expression")) else {
                continue;
            };
            let outputs = t
                .children()
                .filter(|n| n.has_tag_name("output"))
                .map(|o| {
                    (
                        o.attribute("type").map(str::to_owned),
                        o.text().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            tests.push(Test {
                group: gname.clone(),
                name: t.attribute("name").unwrap_or("?").to_owned(),
                input: t.attribute("inputfile").map(|f| f.replace(".xml", ".json")),
                expr: e.text().unwrap_or("").to_owned(),
                invalid: e.attribute("invalid").is_some(),
                predicate: t.attribute("predicate") == Some("true"),
                ordered: t.attribute("ordered") != Some("false"),
                outputs,
            });
        }
    }
    Ok(tests)
}

/// The current UTC time as a FHIRPath DateTime.
fn now() -> Option<DateTime> {
    let secs = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let n = |v: i64| u8::try_from(v).ok();
    DateTime::from_parts(
        u16::try_from(y).ok()?,
        n(m)?,
        n(d)?,
        n(rem / 3600)?,
        n(rem / 60 % 60)?,
        n(rem % 60)?,
        0,
        0,
    )
}

/// `(type, text)` of a result item in the suite's vocabulary.
fn describe(item: &Item<'_>) -> (String, Option<String>) {
    let ty = match item {
        Item::Element(e) => e.type_name().unwrap_or("?").to_owned(),
        Item::Quantity(_) => "Quantity".to_owned(),
        other => {
            let (_, name) = other.type_of();
            let mut c = name.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    };
    (ty, item.to_text())
}

fn same_text(expected: &str, actual: &str) -> bool {
    let e = expected.trim_start_matches('@');
    let e = e
        .strip_prefix('T')
        .filter(|_| !actual.starts_with('T'))
        .unwrap_or(e);
    if e == actual {
        return true;
    }
    matches!((e.parse::<Decimal>(), actual.parse::<Decimal>()), (Ok(a), Ok(b)) if a == b)
}

fn matches_output(exp: &(Option<String>, String), item: &Item<'_>) -> bool {
    let (ty, text) = describe(item);
    let type_ok = exp
        .0
        .as_deref()
        .is_none_or(|t| t == ty || (t == "decimal" && ty == "integer"));
    type_ok && text.is_some_and(|t| same_text(&exp.1, &t))
}

fn check(test: &Test, result: &[Item<'_>]) -> Result<(), String> {
    let owned;
    let result = if test.predicate {
        owned = vec![Item::Boolean(!result.is_empty())];
        &owned[..]
    } else {
        result
    };
    let shown = || {
        result
            .iter()
            .map(describe)
            .map(|(t, v)| format!("{t}:{}", v.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    if result.len() != test.outputs.len() {
        return Err(format!(
            "expected {} item(s), got {:?}",
            test.outputs.len(),
            shown()
        ));
    }
    let ok = if test.ordered {
        test.outputs
            .iter()
            .zip(result)
            .all(|(e, a)| matches_output(e, a))
    } else {
        let mut used = vec![false; result.len()];
        test.outputs.iter().all(|e| {
            let hit = result
                .iter()
                .zip(used.iter_mut())
                .find(|(a, u)| !**u && matches_output(e, a));
            hit.map(|(_, u)| *u = true).is_some()
        })
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {:?}", test.outputs, shown()))
    }
}

fn run(test: &Test, inputs: &HashMap<String, Json>, ctx: &Context<'_>) -> Result<(), String> {
    let expr = match Expr::parse(&test.expr) {
        Ok(e) => e,
        Err(e) if test.invalid => return Ok(()).map(|()| drop(e)),
        Err(e) => return Err(format!("parse error: {e}")),
    };
    let outcome = match test.input.as_ref() {
        Some(f) => {
            let input = inputs.get(f).ok_or_else(|| format!("missing input {f}"))?;
            expr.evaluate(input, ctx).map(|r| check(test, &r))
        }
        None => expr.evaluate_items(&[], ctx).map(|r| check(test, &r)),
    };
    match (outcome, test.invalid) {
        (Err(_), true) => Ok(()),
        (Err(e), false) => Err(format!("evaluation error: {e}")),
        (Ok(_), true) => Err("expected an error, got a result".to_owned()),
        (Ok(r), false) => r,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .map_or("../shared/fhir-test-cases/fhirpath", String::as_str),
    );
    let verbose = args.iter().any(|a| a == "-v");
    let xml = match std::fs::read_to_string(dir.join("tests-fhir-r4.xml")) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let tests = match load_tests(&xml) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bad test file: {e}");
            return ExitCode::FAILURE;
        }
    };
    let inputs = load_inputs(&dir, &tests);
    let model = SpecModel::r4();
    let mut ctx = Context::new().with_model(&model).strict(true);
    if let Some(n) = now() {
        ctx = ctx.with_now(n);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut groups: Vec<(String, usize, usize)> = Vec::new();
    for test in &tests {
        let r = run(test, &inputs, &ctx);
        if groups.last().is_none_or(|g| g.0 != test.group) {
            groups.push((test.group.clone(), 0, 0));
        }
        let Some(g) = groups.last_mut() else { continue };
        g.2 += 1;
        match r {
            Ok(()) => {
                passed += 1;
                g.1 += 1;
            }
            Err(why) => {
                failed += 1;
                println!(
                    "FAIL {}/{}: {} -- {why}",
                    test.group,
                    test.name,
                    test.expr.replace('\n', " ")
                );
            }
        }
    }
    for (name, ok, total) in &groups {
        if verbose || ok != total {
            println!("group {name}: {ok}/{total}");
        }
    }
    println!("{} groups, {} tests", groups.len(), tests.len());
    println!("{passed} passed, {failed} failed");
    ExitCode::SUCCESS
}

fn load_inputs(dir: &Path, tests: &[Test]) -> HashMap<String, Json> {
    let mut inputs = HashMap::new();
    for f in tests.iter().filter_map(|t| t.input.as_ref()) {
        if inputs.contains_key(f) {
            continue;
        }
        match std::fs::read_to_string(dir.join(f)).map(|s| serde_json::from_str::<Json>(&s)) {
            Ok(Ok(v)) => {
                inputs.insert(f.clone(), v);
            }
            _ => eprintln!("cannot load input {f}"),
        }
    }
    inputs
}
