//! `sovra catalog`: refresh the region catalog from the providers' listings.

use super::*;
use sovra::catalog::Listing;
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub(super) enum Cmd {
    /// Add the regions the providers list now to a catalog, with their
    /// partitions; print the new regions document (or write it with
    /// --output) and, on standard error, what was added and what could not
    /// be placed in a country (exit 1 then, 0 otherwise).
    #[command(after_help = "Examples:
  cp \"$(python3 -c 'import botocore, os; print(os.path.dirname(botocore.__file__))')/data/endpoints.json\" aws.json
  az account list-locations > azure.json
  gcloud compute regions list --format=json > gcp.json
  sovra catalog import --aws aws.json --azure azure.json --gcp gcp.json \\
      --country asia-southeast3=TH --output regions.json")]
    Import(ImportArgs),
}

#[derive(clap::Args)]
pub(super) struct ImportArgs {
    /// The AWS SDK's partitions data (`partitions.json`, or botocore's `endpoints.json`).
    #[arg(long, value_name = "FILE")]
    aws: Option<PathBuf>,
    /// The output of `az account list-locations`.
    #[arg(long, value_name = "FILE")]
    azure: Option<PathBuf>,
    /// The output of `gcloud compute regions list --format=json`.
    #[arg(long, value_name = "FILE")]
    gcp: Option<PathBuf>,
    /// The catalog to add to. Absent: the bundled catalog.
    #[arg(long, value_name = "FILE")]
    base: Option<PathBuf>,
    /// The country of a region its listing does not place (`asia-southeast3=TH`); repeatable.
    #[arg(long = "country", value_name = "ID=CC")]
    countries: Vec<String>,
    /// Write the catalog here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(super) fn run(cmd: Cmd) -> Result<u8, Fail> {
    let Cmd::Import(a) = cmd;
    let json = |path: &Path| -> Result<serde_json::Value, Fail> {
        serde_json::from_str(&read(path)?)
            .map_err(|e| Fail(format!("{}: not valid JSON: {e}", name(path))))
    };
    let base = match &a.base {
        Some(p) => json(p)?,
        None => serde_json::from_str(include_str!("../../policies/catalog/cloud-regions.json"))?,
    };
    let mut listings = Vec::new();
    for (kind, path) in [
        (Listing::Aws, &a.aws),
        (Listing::Azure, &a.azure),
        (Listing::Gcp, &a.gcp),
    ] {
        if let Some(p) = path {
            listings.push((kind, json(p)?));
        }
    }
    if listings.is_empty() {
        return Err(Fail(
            "give at least one listing: --aws FILE, --azure FILE or --gcp FILE".into(),
        ));
    }
    let mut countries = BTreeMap::new();
    for c in &a.countries {
        let (id, code) = c.split_once('=').ok_or_else(|| {
            Fail(format!(
                "--country {c}: write ID=CC, such as asia-southeast3=TH"
            ))
        })?;
        let country = sovra::country::Country::parse_assigned(code)
            .map_err(|e| Fail(format!("--country {c}: {e}")))?;
        countries.insert(id.to_string(), country);
    }
    let (doc, report) = sovra::catalog::import(&base, &listings, &countries).map_err(Fail)?;
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match &a.output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Fail(format!("cannot write {}: {e}", p.display())))?,
        None => out!("{text}"),
    }
    for r in &report.added {
        eprintln!("sovra: added {r}");
    }
    for r in &report.unknown {
        eprintln!(
            "sovra: not added: {r}: its listing names no country; give it with --country ID=CC"
        );
    }
    eprintln!(
        "sovra: {} added, {} partitions filled in, {} not placed",
        report.added.len(),
        report.partitioned,
        report.unknown.len()
    );
    Ok(u8::from(!report.unknown.is_empty()))
}
