//! Policy sets: finding `.sov` files, and the bundled library.
//!
//! Input: paths (files or folders, searched recursively for `*.sov`), or
//! nothing for the bundled library built into the binary. Output: [`Sources`]
//! in a fixed order (sorted by name), so the same files always compile to the
//! same program and policy hash.

use crate::diag::Diagnostic;
use crate::ir::Program;
use crate::source::Sources;
use std::path::{Path, PathBuf};

/// The reference policy library (`policies/*.sov`), built into the binary.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "policies/access.sov",
        include_str!("../policies/access.sov"),
    ),
    (
        "policies/classes.sov",
        include_str!("../policies/classes.sov"),
    ),
    ("policies/gdpr.sov", include_str!("../policies/gdpr.sov")),
    ("policies/geo.sov", include_str!("../policies/geo.sov")),
    (
        "policies/residency.sov",
        include_str!("../policies/residency.sov"),
    ),
    (
        "policies/russia.sov",
        include_str!("../policies/russia.sov"),
    ),
];

/// A policy path that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read policy path `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no `.sov` policy files found under `{0}`")]
    Empty(String),
}

/// The bundled library as sources.
pub fn bundled() -> Sources {
    let mut s = Sources::default();
    let mut files = BUNDLED.to_vec();
    files.sort();
    for (name, text) in files {
        s.add(name, text);
    }
    s
}

fn display(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: display(path),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "sov") {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads every `.sov` file under the given paths.
pub fn load(paths: &[PathBuf]) -> Result<Sources, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        let before = files.len();
        collect(p, &mut files)?;
        if files.len() == before {
            return Err(LoadError::Empty(display(p)));
        }
    }
    let mut named: Vec<(String, PathBuf)> = files.into_iter().map(|f| (display(&f), f)).collect();
    named.sort();
    named.dedup_by(|a, b| a.0 == b.0);
    let mut s = Sources::default();
    for (name, path) in named {
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
            path: name.clone(),
            source,
        })?;
        s.add(name, text);
    }
    Ok(s)
}

/// Compiles sources to the IR (parse and check).
pub fn compile(sources: &Sources) -> Result<Program, Vec<Diagnostic>> {
    crate::check::check(sources)
}
