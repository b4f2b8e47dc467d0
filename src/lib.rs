//! Sovra: a policy engine for where data may live and who may reach it from where.
//!
//! The pipeline: [`syntax`] (pest grammar → typed syntax tree) → [`check`]
//! (names, types, diagnostics; lowers to the IR) → [`ir`] (the flat, indexed,
//! hashed decision program) → [`eval`] (decide a request, with an optional
//! trace). [`documents`] holds the request, regions and grants models beside
//! it. The command line (`src/main.rs`, `src/cli`) uses only this public API.

pub mod check;
pub mod country;
pub mod diag;
pub mod documents;
pub mod eval;
pub mod explain;
pub mod ir;
pub mod policy;
pub mod source;
pub mod syntax;

pub use check::check;
pub use documents::{DocError, Grants, Regions, Request};
pub use eval::{Decision, Engine, Scratch, TraceLevel, Verdict};
