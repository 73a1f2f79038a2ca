//! `rsmd`: the rsm node agent. Everything is in the library (`rsmd::cli`).

fn main() -> anyhow::Result<()> {
    rsmd::cli::run(std::env::args_os())
}
