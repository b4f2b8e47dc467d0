//! Every kind of diagnostic: each `tests/diagnostics/*.sov` file (or folder)
//! is one policy set that must fail to check with the diagnostic code named in
//! its `// expect:` line; the rendered output is an insta snapshot.

use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
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
    for case in cases() {
        let rel = case.strip_prefix(root).unwrap().to_path_buf();
        let sources = sovra::policy::load(std::slice::from_ref(&rel)).unwrap();
        let want = expected_code(&case);
        let diags = match sovra::policy::compile(&sources) {
            Ok(_) => panic!("{}: expected {want}, but it checked clean", rel.display()),
            Err(d) => d,
        };
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
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
                d.message
            );
            assert!(
                d.span.end > d.span.start,
                "{}: nothing underlined: {}",
                rel.display(),
                d.message
            );
        }
        seen.insert(want);
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
    ] {
        assert!(seen.contains(kind), "no test case for {kind}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let src =
        sovra::policy::load(&[PathBuf::from("tests/diagnostics/invalid_country.sov")]).unwrap();
    let diags = sovra::policy::compile(&src).unwrap_err();
    assert_eq!(diags.len(), 3, "UK, XX and EU are each reported");
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
