//! The `dimby` binary: parses the command line and runs it (see the library for what each part
//! does).

use clap::Parser;
use dimby::{cli, logging};

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format, cli.command.default_log_filter());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli::run(cli.command))
}
