//! The `sovra` binary: a thin dispatcher to the command line in `cli.rs`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
