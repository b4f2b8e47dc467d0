//! `sovra fmt`: one layout for policy files.

use super::*;

/// The formatter's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra fmt policies/
  sovra fmt --check policies/        # exit 1 and the files that would change
  sovra fmt - < mine.sov             # standard input to standard output")]
pub(super) struct Args {
    /// List the files that would change and exit 1, changing nothing.
    #[arg(long)]
    check: bool,
    /// Policy files or folders (searched for `*.sov`); `-` formats standard
    /// input to standard output. Absent: the current folder.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    if a.paths.iter().any(|p| p == Path::new("-")) {
        let text = read(Path::new("-"))?;
        let mut s = Sources::default();
        s.add("standard input", text.clone());
        let formatted = sovra::format::format(&text).map_err(|d| {
            Fail(format!(
                "standard input does not parse:\n\n{}",
                sovra::diag::render(&d, &s)
            ))
        })?;
        if a.check {
            return Ok(u8::from(formatted != text));
        }
        out!("{formatted}");
        return Ok(0);
    }
    let roots = if a.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        a.paths.clone()
    };
    let mut files = Vec::new();
    for r in &roots {
        collect(r, &mut files)?;
    }
    let mut changed = 0;
    for f in &files {
        let text = read(f)?;
        let formatted = sovra::format::format(&text).map_err(|d| {
            let mut s = Sources::default();
            s.add_file(name(f), name(f), text.clone());
            Fail(format!(
                "{} does not parse:\n\n{}",
                name(f),
                sovra::diag::render(&d, &s)
            ))
        })?;
        if formatted != text {
            changed += 1;
            if a.check {
                outln!("{}", name(f));
            } else {
                std::fs::write(f, formatted)
                    .map_err(|e| Fail(format!("cannot write `{}`: {e}", f.display())))?;
            }
        }
    }
    if a.check {
        return Ok(u8::from(changed > 0));
    }
    eprintln!(
        "sovra: {changed} of {} file{} formatted",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// The `.sov` files under a path, sorted.
fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Fail> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(p).map_err(|e| Fail(format!("cannot read `{}`: {e}", p.display())))?;
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "target");
        if e.is_dir() && !hidden {
            collect(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "sov") {
            out.push(e);
        }
    }
    Ok(())
}
