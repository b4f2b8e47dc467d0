//! The `sovra` binary: a thin dispatcher to the command line in `cli.rs`.

mod cli;
#[cfg(feature = "server")]
mod server;

/// mimalloc: batch decisions allocate many small short-lived values on every
/// core, which glibc's allocator serves markedly slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
