//! Sovra: a policy engine for where data may live and who may reach it from where.
//!
//! The pipeline: [`syntax`] (pest grammar → typed syntax tree) → [`check`]
//! (names, types, diagnostics; lowers to the IR) → [`ir`] (the flat, indexed,
//! hashed decision program) → [`eval`] (decide a request, with an optional
//! trace). [`documents`] holds the request, regions and grants models beside
//! it. The command line (`src/main.rs`, `src/cli.rs`) uses only this public API.
//!
//! ```
//! use sovra::{Engine, Grants, Request, Scratch, TraceLevel};
//!
//! let program = sovra::policy::compile(&sovra::policy::bundled()).expect("bundled policies compile");
//! let engine = Engine::new(program, sovra::documents::bundled_regions(), Grants::default());
//!
//! let request = Request::from_json(r#"{"action":"store","resource":{"classification":"identity",
//!     "residency":"eea","home_country":"FR"},"target_region":"eu-west-3"}"#)?;
//!
//! // The full decision document, with a trace if asked for.
//! let decision = engine.decide(&request, TraceLevel::Off);
//! assert!(decision.allowed());
//!
//! // The hot path: no allocation, the determining rules by index.
//! let mut scratch = Scratch::default();
//! let verdict = engine.verdict(&request, &mut scratch);
//! assert!(verdict.allow);
//! # Ok::<(), sovra::DocError>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::string_slice,
        reason = "unit tests fail loudly: a panic is a failed test"
    )
)]

#[cfg(feature = "cli")]
pub mod alloc;
pub mod analysis;
pub mod audit;
pub mod catalog;
pub mod check;
pub mod country;
pub mod diag;
pub mod documents;
pub mod eval;
pub mod explain;
pub mod format;
/// The seeded generators the tests and benches share, for the library's
/// own unit tests too.
#[cfg(test)]
#[path = "../tests/support/gen.rs"]
mod gen;
pub mod ide;
pub mod ir;
mod json;
mod names;
pub mod placement;
pub mod policy;
#[cfg(feature = "rego")]
pub mod rego;
pub mod report;
pub mod source;
#[cfg(feature = "state")]
pub mod state;
pub mod syntax;
pub mod testing;
pub mod vocab;

pub use check::check;
pub use documents::{DocError, Grants, Regions, Request};
pub use eval::{Decision, Engine, Scratch, TraceLevel, Verdict};
