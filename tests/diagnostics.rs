//! Every kind of diagnostic: each `tests/diagnostics/*.sov` file (or folder)
//! is one policy set that must fail to check with the diagnostic code named in
//! its `// expect:` line; the rendered output is an insta snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    cases_in("tests/diagnostics")
}

fn cases_in(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn expected_code(path: &Path) -> String {
    let files = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if let Some(line) = text.lines().find(|l| l.starts_with("// expect: ")) {
            return line.trim_start_matches("// expect: ").trim().to_string();
        }
    }
    panic!("{}: no `// expect:` line", path.display());
}

#[test]
fn every_diagnostic_kind_is_reported_and_rendered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = std::collections::BTreeSet::new();
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases() {
        let rel = case.strip_prefix(root).unwrap().to_path_buf();
        let sources = sovra::policy::load(std::slice::from_ref(&rel)).unwrap();
        let want = expected_code(&case);
        let diags = match sovra::policy::compile(&sources) {
            Ok(_) => panic!("{}: expected {want}, but it checked clean", rel.display()),
            Err(d) => d,
        };
        let codes: Vec<&str> = diags.iter().map(|d| d.code().as_str()).collect();
        assert!(
            codes.contains(&want.as_str()),
            "{}: expected {want}, got {codes:?}",
            rel.display()
        );
        for d in &diags {
            assert!(
                d.help.is_some(),
                "{}: a diagnostic without a hint: {}",
                rel.display(),
                d.message()
            );
            assert!(
                d.span.end > d.span.start,
                "{}: nothing underlined: {}",
                rel.display(),
                d.message()
            );
        }
        seen.insert(want);
        kinds.extend(diags.iter().map(|d| d.problem.kind()));
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(name, sovra::diag::render(&diags, &sources));
    }
    for kind in [
        "sovra::syntax",
        "sovra::unknown_name",
        "sovra::type",
        "sovra::unknown_classification",
        "sovra::unknown_profile",
        "sovra::unknown_value",
        "sovra::invalid_country",
        "sovra::duplicate",
        "sovra::never_applies",
        "sovra::cycle",
        "sovra::import",
        "sovra::too_deep",
        "sovra::number",
    ] {
        assert!(seen.contains(kind), "no test case for {kind}");
    }
    // Warnings: each tests/warnings case compiles, with the warning named.
    for case in cases_in("tests/warnings") {
        let rel = case.strip_prefix(root).unwrap().to_path_buf();
        let sources = sovra::policy::load(std::slice::from_ref(&rel)).unwrap();
        let want = expected_code(&case);
        let checked = sovra::policy::compile_all(&sources);
        assert!(
            checked.errors.is_empty(),
            "{}: {}",
            rel.display(),
            sovra::diag::render(&checked.errors, &sources)
        );
        let codes: Vec<&str> = checked.warnings.iter().map(|d| d.code().as_str()).collect();
        assert!(
            codes.contains(&want.as_str()),
            "{}: expected {want}, got {codes:?}",
            rel.display()
        );
        for d in &checked.warnings {
            assert_eq!(d.severity, sovra::diag::Severity::Warning);
            assert!(
                d.help.is_some() && d.span.end > d.span.start,
                "{}",
                d.message()
            );
        }
        kinds.extend(checked.warnings.iter().map(|d| d.problem.kind()));
        let name = format!("warning_{}", case.file_stem().unwrap().to_string_lossy());
        insta::assert_snapshot!(name, sovra::diag::render(&checked.warnings, &sources));
    }
    // Every kind of problem (a variant of ParseError or CheckError) has a
    // case, but the three that only a bug in Sovra produces (a parser or
    // compiler thread that fails, a shape the grammar cannot produce): the
    // last has a unit test in src/check/mod.rs.
    let missing: Vec<&str> = sovra::diag::KINDS
        .iter()
        .copied()
        .filter(|k| !["ParserFailed", "CompilerFailed", "Internal"].contains(k))
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(missing.is_empty(), "no test case for {missing:?}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let src =
        sovra::policy::load(&[PathBuf::from("tests/diagnostics/invalid_country.sov")]).unwrap();
    let diags = sovra::policy::compile(&src).unwrap_err();
    assert_eq!(diags.len(), 3, "UK, XX and EU are each reported");
    // A failed import is reported once, not again at every use.
    let src =
        sovra::policy::load(&[PathBuf::from("tests/diagnostics/failed_import_once.sov")]).unwrap();
    let diags = sovra::policy::compile(&src).unwrap_err();
    assert_eq!(diags.len(), 1, "{}", sovra::diag::render(&diags, &src));
    // Every bad `{hole}` of a text, not only the first.
    let src =
        sovra::policy::load(&[PathBuf::from("tests/diagnostics/every_bad_hole.sov")]).unwrap();
    let diags = sovra::policy::compile(&src).unwrap_err();
    assert_eq!(diags.len(), 2, "{}", sovra::diag::render(&diags, &src));
    let src =
        sovra::policy::load(&[PathBuf::from("tests/diagnostics/syntax_many_errors.sov")]).unwrap();
    let diags = sovra::policy::compile(&src).unwrap_err();
    assert_eq!(diags.len(), 2);
}

#[test]
fn the_bundled_library_checks_clean() {
    let src = sovra::policy::load(&[PathBuf::from("policies")]).unwrap();
    let prog = sovra::policy::compile(&src)
        .unwrap_or_else(|d| panic!("{}", sovra::diag::render(&d, &src)));
    assert_eq!(prog.rules.len(), 15);
    // The files on disk are the ones built into the binary.
    let bundled = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    assert_eq!(prog.hash(), bundled.hash());
}

#[test]
fn the_policy_hash_is_the_policys_not_the_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = std::env::temp_dir().join(format!("sovra-hash-{}", std::process::id()));
    let copied = copy.join("policies");
    std::fs::create_dir_all(&copied).unwrap();
    for e in std::fs::read_dir(root.join("policies")).unwrap() {
        let e = e.unwrap().path();
        if e.extension().is_some_and(|x| x == "sov") {
            std::fs::copy(&e, copied.join(e.file_name().unwrap())).unwrap();
        }
    }
    let bundled = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    for spelling in [
        PathBuf::from("policies"),
        PathBuf::from("./policies/../policies"),
        root.join("policies"),
        copied.clone(),
    ] {
        let src = sovra::policy::load(std::slice::from_ref(&spelling)).unwrap();
        let prog = sovra::policy::compile(&src).unwrap();
        assert_eq!(prog.hash(), bundled.hash(), "{}", spelling.display());
        assert_eq!(prog.rules[0].location, bundled.rules[0].location);
    }
    // Two different files with one root-relative name are refused, not merged.
    let other = copy.join("elsewhere").join("policies");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("geo.sov"), "package geo2\n").unwrap();
    let err = sovra::policy::load(&[copied, other]).unwrap_err();
    assert!(err.to_string().contains("`policies/geo.sov`"), "{err}");
    std::fs::remove_dir_all(copy).ok();
}

/// Deep nesting of every kind gives the `too_deep` diagnostic, at any depth,
/// never a stack overflow; up to the limit, a policy checks clean.
#[test]
fn deep_nesting_is_a_diagnostic_never_a_crash() {
    let cond = |kind: &str, n: usize| -> String {
        match kind {
            "paren" => format!("{}action == store{}", "(".repeat(n), ")".repeat(n)),
            "not" => format!("{}action == store", "not ".repeat(n)),
            "list" => format!("action in {}store{}", "[".repeat(n), "]".repeat(n)),
            "plus" => format!("now < now{}", " + 1d".repeat(n)),
            "minus" => format!("now > now{}", " - 1d".repeat(n)),
            _ => unreachable!(),
        }
    };
    let limit = sovra::syntax::MAX_NESTING as usize;
    for kind in ["paren", "not", "list", "plus", "minus"] {
        for n in [limit + 1, 1_000, 20_000] {
            let mut src = sovra::source::Sources::default();
            src.add(
                "deep.sov",
                format!("package p\npermit r when {}\n", cond(kind, n)),
            );
            let started = std::time::Instant::now();
            let diags = sovra::policy::compile(&src).unwrap_err();
            assert_eq!(diags.len(), 1, "{kind} {n}");
            assert_eq!(diags[0].code().as_str(), "sovra::too_deep", "{kind} {n}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{kind} {n}"
            );
        }
        if kind != "list" {
            let text = format!("package p\npermit r when {}\n", cond(kind, limit - 2));
            let mut src = sovra::source::Sources::default();
            src.add("ok.sov", text.clone());
            sovra::policy::compile(&src)
                .unwrap_or_else(|d| panic!("{kind}: {}", sovra::diag::render(&d, &src)));
            // The formatter and the editor's lookups parse on this (test)
            // thread's caller too: they must not overflow its stack either
            // (the parser has no stack probe of its own).
            let formatted = sovra::format::format(&text)
                .unwrap_or_else(|d| panic!("{kind}: {}", sovra::diag::render(&d, &src)));
            assert!(formatted.contains("permit r when"), "{kind}");
            let at = text.find("r when").unwrap();
            assert!(sovra::ide::definition(&src, 0, at).is_some(), "{kind}");
        }
    }
}

/// A chain of `not`s does not copy the text beneath each level: the IR
/// grows linearly with it.
#[test]
fn a_not_chain_compiles_to_an_ir_linear_in_its_length() {
    let size = |n: usize| {
        let mut src = sovra::source::Sources::default();
        src.add(
            "n.sov",
            format!(
                "package p\npermit r when {}resource.tenant == \"{}\"\n",
                "not ".repeat(n),
                "x".repeat(4_000)
            ),
        );
        sovra::policy::compile(&src).unwrap().canonical().len()
    };
    // Each level adds its own capped line of trace, not the 4,000 characters beneath it.
    let per_level = (size(60) - size(30)) / 30;
    assert!(per_level < 1_500, "{per_level} bytes a level");
}

/// Keyed rules compile to an IR linear in their number.
#[test]
fn keyed_rules_compile_to_an_ir_linear_in_their_number() {
    let policy = |n: usize| {
        let mut text = String::from("package p\n");
        for i in 0..n {
            text.push_str(&format!(
                "permit p{i} when resource.id == \"ds-{i}\" and target.country in [DE, FR]\nforbid f{i} when resource.id == \"ds-{i}\" and principal.country == US\n"
            ));
        }
        let mut src = sovra::source::Sources::default();
        src.add("k.sov", text);
        sovra::policy::compile(&src).unwrap()
    };
    let (small, large) = (policy(100), policy(2_000));
    assert_eq!(large.rules.len(), 4_000);
    let per = |p: &sovra::ir::Program| p.canonical().len() / p.rules.len();
    assert!(
        per(&large) < per(&small) * 2,
        "{} vs {}",
        per(&large),
        per(&small)
    );
    assert!(large.nodes.len() < small.nodes.len() * 25);
}

/// Diagnostics are rendered from the lines around their places (miette
/// counts lines from the start of the text it is given: the whole of a large
/// file for each diagnostic was quadratic). The excerpt must render exactly
/// as the whole file would: the same lines, numbers and columns, with line
/// ends of every kind, far into a file and at its ends.
#[test]
fn diagnostics_render_the_same_far_into_a_large_file() {
    let rule = |i: usize| {
        format!("forbid f{i}\n  when resource.tenant == \"t\" and target.country not in [CH, FR]\n")
    };
    let mut lf = String::from("package p\n");
    for i in 0..3_000 {
        lf.push_str(&rule(i));
    }
    let crlf = lf.replace('\n', "\r\n");
    let render = |text: &str| {
        let mut src = sovra::source::Sources::default();
        src.add("big.sov", text.to_string());
        let checked = sovra::policy::compile_all(&src);
        assert!(checked.program.is_some());
        sovra::diag::render(&checked.warnings, &src)
    };
    let started = std::time::Instant::now();
    let out = render(&lf);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "3,000 warnings of a 6,000-line file rendered in {:?}",
        started.elapsed()
    );
    // The last rule's condition is on line 6,001, the test at column 35.
    assert!(out.contains("big.sov:6001:35]"), "{out}");
    assert!(out.contains("big.sov:3:35]"));
    assert!(out.contains(" 6001 │   when resource.tenant"));
    assert!(out.ends_with("3000 warnings found\n"));
    // Line ends of CRLF render the same as LF.
    assert_eq!(render(&crlf).replace('\r', ""), out);
    // A lone carriage return counts as a line break for the renderer: the
    // whole file is given to it then, and the numbers stay its own.
    let small: String = (0..50).map(rule).collect();
    let lone_out = render(&format!("package p\r{small}"));
    assert_eq!(render(&format!("package p\n{small}")), lone_out);
}
