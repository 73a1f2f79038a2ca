//! `rsmd`: the rsm node agent. Everything is in the library (`rsmd::cli`).

fn main() {
    // The error and its causes on one line, without the backtrace that returning the error
    // from main would print when RUST_BACKTRACE is set: a bad configuration is not a bug.
    if let Err(e) = rsmd::cli::run(std::env::args_os()) {
        eprintln!("rsmd: {e:#}");
        std::process::exit(1);
    }
}
