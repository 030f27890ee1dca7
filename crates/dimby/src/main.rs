//! DimbyBot: a Discord music bot on a cluster of Lavalink v4 nodes, with its operator CLI.
//!
//! Today the binary carries the stand-ins (`dimby sim lavalink`); the bot itself, the demo and the
//! operator commands join as their issues land.

mod bench;
mod cli;
mod logging;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format, cli.command.default_log_filter());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli::run(cli.command))
}
