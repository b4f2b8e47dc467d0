//! The `sovra` binary: a thin dispatcher to the command line in `cli.rs`.

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

mod cli;
#[cfg(feature = "server")]
mod server;

/// mimalloc: batch decisions allocate many small short-lived values on every
/// core, which glibc's allocator serves markedly slower.
#[global_allocator]
static GLOBAL: sovra::alloc::MiMalloc = sovra::alloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
