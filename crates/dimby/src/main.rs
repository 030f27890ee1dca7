//! The `dimby` binary: the bot (`dimby run`) and its operator CLI (health gate, node management,
//! profiles of a running bot). With the default `tools` feature it also carries the operator
//! tools (`demo`, `sim`, `bench`, `perf`, `profile run`, from the tools crate); the production
//! image is built without them.

#[cfg(test)]
mod build_commit;
mod cli;
mod deploy_cli;
mod health_cli;
mod nodes_cli;
mod profile_cli;

use app::logging;
use clap::Parser;

/// jemalloc is the allocator: it fragments less than glibc's under the bot's many small, short-lived
/// allocations, reports its own statistics (`/debug/pprof/allocs`) and, with the `profiling`
/// feature, samples the heap (`/debug/pprof/heap`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it initializes (before `main`): heap profiling compiled in
/// and set up (`prof:true`) but sampling off (`prof_active:false`) until `profiling.enabled` or
/// the admin endpoint switches it on, then one sample per 512 KiB allocated on average
/// (`lg_prof_sample:19`); and a background thread that returns freed pages to the OS on jemalloc's
/// decay timer (`background_thread:true`), so that the hundreds of MiB a profile's symbolizing
/// allocates and frees do not stay resident in arenas nothing else touches.
/// `_RJEM_MALLOC_CONF` in the environment still overrides any of these.
///
/// tikv-jemalloc-sys prefixes jemalloc's symbols with `_rjem_`, so jemalloc looks for
/// `_rjem_malloc_conf`. Exporting a symbol is `unsafe` in Rust: this is the one place in the
/// workspace that needs it (the crate denies `unsafe_code` instead of forbidding it only for
/// this). The safe alternative, the environment
/// variable, would depend on every operator and every script setting it.
#[cfg(feature = "profiling")]
#[allow(unsafe_code, non_upper_case_globals)]
// SAFETY: jemalloc reads this symbol as a `const char *` to a NUL-terminated string. A reference
// to a byte array is a thin pointer with that layout; the bytes are 'static, immutable and end in
// NUL, and no other object defines `_rjem_malloc_conf` (jemalloc's own definition is weak).
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: &[u8; 69] =
    b"prof:true,prof_active:false,lg_prof_sample:19,background_thread:true\0";

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    // Before the log: every line carries the version (and the colour once the config is read).
    app::identity::set_build(app::identity::Build {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("DIMBY_COMMIT"),
    });
    logging::init(cli.log_format, cli.command.default_log_filter());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // First thing, before the config is read: a SIGHUP must never end the bot.
        if let cli::OnHangup::Reload(config) = cli.command.on_hangup() {
            app::hangup::install(config);
        }
        cli::run(cli.command).await
    })
}
