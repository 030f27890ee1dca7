//! The profilers end to end (with the `profiling` feature): a heap profile names the site that
//! allocated, and `dimby profile run` leaves a well-formed flamegraph with frames of our crates.
#![cfg(feature = "profiling")]

use std::path::{Path, PathBuf};
use std::process::Command;

use admin::profiling::stacks::{Stacks, is_workspace_frame};

// jemalloc, as in the binary, so this test process can sample its heap when started with
// `_RJEM_MALLOC_CONF=prof:true` (the binary sets that in code; a test cannot without unsafe).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CHILD: &str = "DIMBY_PROFILING_TEST_CHILD";

/// Holds 16 MiB in 4 KiB blocks, allocated right here.
#[inline(never)]
fn allocate_from_a_named_site() -> Vec<Vec<u8>> {
    (0..4096)
        .map(|i| std::hint::black_box(vec![u8::try_from(i % 251).unwrap_or(0); 4096]))
        .collect()
}

#[test]
fn a_heap_profile_names_the_site_that_allocated() {
    if std::env::var_os(CHILD).is_none() {
        // jemalloc reads its options before main: run this test again in a child process that
        // has them, sampling every 4 KiB from the start.
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "a_heap_profile_names_the_site_that_allocated",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env(
                "_RJEM_MALLOC_CONF",
                "prof:true,prof_active:true,lg_prof_sample:12",
            )
            .output()
            .expect("child test");
        // Its output stays here unless it failed: one test runner's summary per run.
        assert!(
            output.status.success(),
            "the child test failed: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let held = allocate_from_a_named_site();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let snapshot = runtime
        .block_on(admin::profiling::heap::snapshot())
        .expect("heap sampling is on in the child");
    let stacks = Stacks::from_pprof(&snapshot.pprof()).expect("a pprof profile");
    let at_site: i64 = stacks
        .stacks
        .iter()
        .filter(|(stack, _)| {
            stack
                .iter()
                .any(|frame| frame.contains("allocate_from_a_named_site"))
        })
        .map(|(_, bytes)| bytes)
        .sum();
    // Sampled and scaled: an estimate, but of the right order (16 MiB held there).
    assert!(
        at_site > 4 << 20,
        "bytes held at the named site: {at_site}; top sites: {:?}",
        stacks.top_sites(5)
    );
    let svg = snapshot.flamegraph_svg().expect("flamegraph");
    assert_well_formed_svg(&svg);
    assert!(String::from_utf8_lossy(&svg).contains("allocate_from_a_named_site"));
    drop(held);
}

/// Parses `svg` as XML and checks its root is `<svg>`; returns the text of its `<title>`s.
fn assert_well_formed_svg(svg: &[u8]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(svg);
    let mut root = None;
    let mut titles = Vec::new();
    let mut in_title = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                root.get_or_insert_with(|| name.clone());
                in_title = name == "title";
            }
            Event::Text(text) if in_title => {
                titles.push(String::from_utf8_lossy(&text).into_owned());
            }
            Event::End(_) => in_title = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert_eq!(root.as_deref(), Some("svg"), "the root element");
    titles
}

fn only_dir(dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run directory: {dirs:?}");
    dirs.into_iter().next().expect("one")
}

#[test]
fn profile_run_writes_a_flamegraph_with_frames_of_our_crates() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args([
            "profile",
            "run",
            "--scenario",
            "failover",
            "--seconds",
            "3",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("dimby profile run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dimby profile run failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = only_dir(out.path());
    assert!(stdout.contains(&dir.display().to_string()), "{stdout}");

    let svg = std::fs::read(dir.join("cpu.svg")).expect("cpu.svg");
    let titles = assert_well_formed_svg(&svg);
    assert!(
        titles.iter().any(|t| is_workspace_frame(t)),
        "a frame of our crates among {} frames",
        titles.len()
    );
    assert_well_formed_svg(&std::fs::read(dir.join("heap.svg")).expect("heap.svg"));
    let cpu = Stacks::from_pprof(&std::fs::read(dir.join("cpu.pb.gz")).expect("cpu.pb.gz"))
        .expect("cpu profile");
    assert!(cpu.total() > 0);
    let heap = Stacks::from_pprof(&std::fs::read(dir.join("heap.pb.gz")).expect("heap.pb.gz"))
        .expect("heap profile");
    assert!(heap.total() > 0);
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    for needle in [
        "Top functions by self time",
        "Top allocation sites",
        "CPU seconds",
        "peak RSS",
    ] {
        assert!(
            summary.contains(needle),
            "{needle} in summary.md:\n{summary}"
        );
    }
}

/// `dimby bench commands --cpu-sampling-hz`: the CPU sampler runs over the measured phase and the
/// figures say which variant ran (scripts/profiling-overhead tells its runs apart by them).
#[test]
fn a_bench_run_with_cpu_sampling_records_its_variant() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = |extra: &[&str], name: &str| {
        let figures = out.path().join(name);
        let output = Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args([
                "bench",
                "commands",
                "--guilds",
                "10",
                "--rate",
                "20",
                "--seconds",
                "1",
                "--nodes",
                "1",
                "--figures",
            ])
            .arg(&figures)
            .args(extra)
            .output()
            .expect("dimby bench commands");
        assert!(
            output.status.success(),
            "dimby bench commands {extra:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&figures).expect("figures");
        serde_json::from_str::<tools::bench::figures::Figures>(&text).expect("figures JSON")
    };
    let inactive = run(&[], "inactive.json");
    assert_eq!(inactive.profiling, Some(true));
    assert_eq!(inactive.cpu_sampling, None);
    assert_eq!(inactive.variant(), "profiling compiled in, inactive");

    let sampled = run(&["--cpu-sampling-hz", "99"], "sampled.json");
    assert_eq!(sampled.profiling, Some(true));
    let sampling = sampled.cpu_sampling.expect("the sampler's figures");
    assert_eq!(sampling.hz, 99);
    assert!(sampling.profile_build_peak_rss_bytes > 0, "{sampling:?}");
    assert_eq!(
        sampled.variant(),
        "profiling compiled in, CPU sampling at 99 Hz"
    );
}
