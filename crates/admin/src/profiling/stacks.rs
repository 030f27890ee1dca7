//! pprof profiles read back into stacks: for flamegraphs drawn from a downloaded profile, and for
//! the summaries of `dimby profile run` (functions by self time, allocation sites by bytes held).

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;

use pprof::protos::Message as _;

use super::ProfilingError;

/// The crates of this workspace, as they appear first in symbol names.
pub const WORKSPACE_CRATES: [&str; 15] = [
    "dimby",
    "app",
    "bot",
    "discord",
    "admin",
    "tools",
    "cluster",
    "lavalink",
    "music",
    "sim",
    "store",
    "health",
    "telemetry",
    "clock",
    "workloads",
];

/// Whether a symbol name is a function of this workspace's crates (`dimby::...`, `<cluster::X as
/// Y>::...`).
pub fn is_workspace_frame(name: &str) -> bool {
    let name = name.trim_start_matches('<');
    WORKSPACE_CRATES.iter().any(|krate| {
        name.strip_prefix(krate)
            .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// Whether a frame belongs to the allocator or the standard library's allocation paths, which an
/// allocation *site* looks past: C functions (jemalloc's internals have no `::`), the global
/// allocator shims, and the standard collections growing.
fn is_allocator_frame(name: &str) -> bool {
    let name = name.trim_start_matches('<');
    !name.contains("::")
        || [
            "alloc::",
            "core::",
            "std::",
            "hashbrown::",
            "tikv_jemalloc",
            "__rustc::",
            "__rust_",
            "jemalloc_pprof",
            "bytes::",
            "smallvec::",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// A function name as the symbolizer gave it, with its module path put back when it has none.
///
/// Release builds carry only line tables (`debug = "line-tables-only"`), whose inlined functions
/// are named without their path (`next_due`, `atomic_sub<usize, usize>`); the source file says
/// where they live (`crates/sim/src/lavalink/session.rs` → `sim::lavalink::session::next_due`,
/// `.../library/core/src/sync/atomic.rs` → `core::sync::atomic::atomic_sub<...>`, a registry
/// crate's `.../tokio-1.48.0/src/sync/mutex.rs` → `tokio::sync::mutex::...`). Names that have a
/// path, and files that are none of these, are left as they are.
pub fn qualify(name: &str, filename: &str) -> String {
    // `{closure#0}<tokio::...>`: the path that matters is before the generic arguments.
    let head = name.split('<').next().unwrap_or(name);
    // `__rust_alloc` and friends are the compiler's shims, named as they are on purpose.
    if head.contains("::") || name.is_empty() || name.starts_with('<') || name.starts_with("__") {
        return name.to_owned();
    }
    match module_of(filename) {
        Some(module) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// `crate::module::path` of a source file, from the layout of this workspace, the standard
/// library's sources and cargo's registry.
fn module_of(filename: &str) -> Option<String> {
    let path = filename.replace('\\', "/");
    let (krate, rest) = if let Some((_, after)) = path.rsplit_once("/crates/") {
        after.split_once("/src/")?
    } else if let Some((_, after)) = path.rsplit_once("/library/") {
        after.split_once("/src/")?
    } else {
        // A versioned crate directory: cargo's registry (`.../<crate>-<version>/src/...`), or the
        // standard library's own dependencies (`/rust/deps/<crate>-<version>/src/...`).
        let (before, rest) = path.rsplit_once("/src/")?;
        let dir = before.rsplit('/').next()?;
        let (krate, version) = dir.rsplit_once('-')?;
        if !version.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        (krate, rest)
    };
    let mut parts = vec![krate.replace('-', "_")];
    let rest = rest.strip_suffix(".rs")?;
    parts.extend(
        rest.split('/')
            .filter(|part| !matches!(*part, "lib" | "main" | "mod"))
            .map(str::to_owned),
    );
    Some(parts.join("::"))
}

/// One profile as stacks (root first) with their values.
#[derive(Debug, Clone, Default)]
pub struct Stacks {
    /// What the values are (`cpu`, `inuse_space`, ...).
    pub kind: String,
    /// Their unit (`nanoseconds`, `bytes`, ...).
    pub unit: String,
    /// Each distinct stack, root first, with its value summed.
    pub stacks: Vec<(Vec<String>, i64)>,
}

impl Stacks {
    /// Reads a pprof profile (gzipped or not). The value is the profile's last sample type
    /// (pprof's default: CPU nanoseconds in a CPU profile, bytes in a heap profile); a `thread`
    /// label, when present, becomes the root frame.
    pub fn from_pprof(bytes: &[u8]) -> Result<Self, ProfilingError> {
        let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
            out
        } else {
            bytes.to_vec()
        };
        let profile = pprof::protos::Profile::decode(raw.as_slice())
            .map_err(|e| ProfilingError::Decode(e.to_string()))?;
        let string = |index: i64| -> &str {
            usize::try_from(index)
                .ok()
                .and_then(|i| profile.string_table.get(i))
                .map_or("", String::as_str)
        };
        let (kind, unit, value_index) = match profile.sample_type.last() {
            Some(t) => (
                string(t.ty).to_owned(),
                string(t.unit).to_owned(),
                profile.sample_type.len() - 1,
            ),
            None => (String::new(), String::new(), 0),
        };
        let functions: HashMap<u64, String> = profile
            .function
            .iter()
            .map(|f| (f.id, qualify(string(f.name), string(f.filename))))
            .collect();
        let locations: HashMap<u64, Vec<String>> = profile
            .location
            .iter()
            .map(|l| {
                // Lines: the innermost inlined function first.
                let names = if l.line.is_empty() {
                    vec![format!("{:#x}", l.address)]
                } else {
                    l.line
                        .iter()
                        .map(|line| {
                            functions
                                .get(&line.function_id)
                                .filter(|name| !name.is_empty())
                                .map_or_else(|| format!("{:#x}", l.address), Clone::clone)
                        })
                        .collect()
                };
                (l.id, names)
            })
            .collect();
        let thread_key = profile.string_table.iter().position(|s| s == "thread");
        let mut merged: HashMap<Vec<String>, i64> = HashMap::new();
        for sample in &profile.sample {
            let value = sample.value.get(value_index).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let mut stack = Vec::new();
            if let Some(key) = thread_key
                && let Some(label) = sample
                    .label
                    .iter()
                    .find(|l| usize::try_from(l.key).ok() == Some(key))
            {
                stack.push(string(label.str).to_owned());
            }
            // Locations: the leaf first; reverse both levels for root first.
            for id in sample.location_id.iter().rev() {
                if let Some(names) = locations.get(id) {
                    stack.extend(names.iter().rev().cloned());
                }
            }
            *merged.entry(stack).or_default() += value;
        }
        let mut stacks: Vec<_> = merged.into_iter().collect();
        stacks.sort();
        Ok(Self { kind, unit, stacks })
    }

    /// These stacks without those that have a frame `drop` matches, and the value left out.
    #[must_use]
    pub fn without(&self, drop: impl Fn(&str) -> bool) -> (Self, i64) {
        let (dropped, kept): (Vec<_>, Vec<_>) = self
            .stacks
            .iter()
            .cloned()
            .partition(|(stack, _)| stack.iter().any(|f| drop(f)));
        let left_out = dropped.iter().map(|(_, v)| v).sum();
        (
            Self {
                kind: self.kind.clone(),
                unit: self.unit.clone(),
                stacks: kept,
            },
            left_out,
        )
    }

    /// The sum of all values.
    pub fn total(&self) -> i64 {
        self.stacks.iter().map(|(_, v)| v).sum()
    }

    /// Brendan Gregg's folded format: `root;caller;leaf value`, one stack a line.
    pub fn folded(&self) -> Vec<String> {
        self.stacks
            .iter()
            .map(|(stack, value)| {
                let frames: Vec<String> = stack.iter().map(|f| f.replace(';', ":")).collect();
                format!("{} {value}", frames.join(";"))
            })
            .collect()
    }

    /// A flamegraph (SVG) of the stacks.
    pub fn flamegraph_svg(&self, title: &str) -> Result<Vec<u8>, ProfilingError> {
        if self.stacks.is_empty() {
            return Ok(empty_svg(&format!("{title}: no samples")));
        }
        let lines = self.folded();
        let mut options = inferno::flamegraph::Options::default();
        title.clone_into(&mut options.title);
        self.unit.clone_into(&mut options.count_name);
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
            .map_err(|e| ProfilingError::Profiler(e.to_string()))?;
        Ok(svg)
    }

    /// Functions by self value (the leaf of each stack), largest first.
    pub fn top_self(&self, n: usize) -> Vec<(String, i64)> {
        top(
            self.stacks
                .iter()
                .filter_map(|(stack, value)| stack.last().map(|leaf| (leaf.clone(), *value))),
            n,
        )
    }

    /// Functions by inclusive value (counted once per stack they appear in), largest first, among
    /// the frames `keep` accepts.
    pub fn top_inclusive(&self, n: usize, keep: impl Fn(&str) -> bool) -> Vec<(String, i64)> {
        top(
            self.stacks.iter().flat_map(|(stack, value)| {
                let mut seen: Vec<&String> = stack.iter().filter(|f| keep(f)).collect();
                seen.sort();
                seen.dedup();
                seen.into_iter().map(|f| (f.clone(), *value))
            }),
            n,
        )
    }

    /// Allocation sites: for each stack, the first frame from the leaf that is not the allocator
    /// or a standard collection growing, largest first.
    pub fn top_sites(&self, n: usize) -> Vec<(String, i64)> {
        top(
            self.stacks.iter().filter_map(|(stack, value)| {
                stack
                    .iter()
                    .rev()
                    .find(|f| !is_allocator_frame(f))
                    .map(|f| (f.clone(), *value))
            }),
            n,
        )
    }

    /// For each stack, the innermost frame of this workspace's crates, largest first: where our
    /// code spent the time or made the allocation.
    pub fn top_workspace_frames(&self, n: usize) -> Vec<(String, i64)> {
        top(
            self.stacks.iter().filter_map(|(stack, value)| {
                stack
                    .iter()
                    .rev()
                    .find(|f| is_workspace_frame(f))
                    .map(|f| (f.clone(), *value))
            }),
            n,
        )
    }
}

fn top(values: impl Iterator<Item = (String, i64)>, n: usize) -> Vec<(String, i64)> {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for (name, value) in values {
        *sums.entry(name).or_default() += value;
    }
    let mut sorted: Vec<_> = sums.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

/// A small valid SVG that says `message` (a profile with no samples).
pub fn empty_svg(message: &str) -> Vec<u8> {
    let text = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"600\" \
         height=\"40\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"25\">{text}</text></svg>\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks() -> Stacks {
        Stacks {
            kind: "cpu".into(),
            unit: "nanoseconds".into(),
            stacks: vec![
                (
                    vec![
                        "main".into(),
                        "dimby::bench::run".into(),
                        "alloc::vec::grow".into(),
                    ],
                    30,
                ),
                (vec!["main".into(), "dimby::bench::run".into()], 10),
                (vec!["main".into(), "serde_json::parse".into()], 50),
            ],
        }
    }

    #[test]
    fn self_inclusive_and_sites() {
        let s = stacks();
        assert_eq!(s.total(), 90);
        assert_eq!(s.top_self(1), vec![("serde_json::parse".to_owned(), 50)]);
        assert_eq!(
            s.top_inclusive(1, is_workspace_frame),
            vec![("dimby::bench::run".to_owned(), 40)]
        );
        assert_eq!(s.top_sites(3)[1], ("dimby::bench::run".to_owned(), 40));
        assert_eq!(
            s.top_workspace_frames(3),
            vec![("dimby::bench::run".to_owned(), 40)]
        );
        assert_eq!(s.folded()[2], "main;serde_json::parse 50");
        let (rest, left_out) = s.without(|f| f.starts_with("serde_json::"));
        assert_eq!((rest.total(), left_out), (40, 50));
    }

    #[test]
    fn allocator_frames_are_looked_past() {
        for frame in [
            "irallocx_prof",
            "__rustc::__rust_alloc",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "<hashbrown::raw::RawTable<T> as Clone>::clone",
        ] {
            assert!(is_allocator_frame(frame), "{frame}");
        }
        assert!(!is_allocator_frame(
            "sim::lavalink::session::NodeState::new"
        ));
        assert!(!is_allocator_frame("serde_json::de::from_str"));
    }

    #[test]
    fn short_names_get_their_module_back_from_the_file() {
        assert_eq!(
            qualify("next_due", "/work/main/crates/sim/src/lavalink/session.rs"),
            "sim::lavalink::session::next_due"
        );
        assert_eq!(
            qualify("run", "/work/main/crates/perf-workloads/src/lib.rs"),
            "perf_workloads::run"
        );
        assert_eq!(
            qualify(
                "atomic_sub<usize, usize>",
                "/rustc/59807616e/library/core/src/sync/atomic.rs"
            ),
            "core::sync::atomic::atomic_sub<usize, usize>"
        );
        assert_eq!(
            qualify(
                "lock",
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.48.0/src/sync/mutex.rs"
            ),
            "tokio::sync::mutex::lock"
        );
        assert_eq!(
            qualify("dimby::main", "/work/main/crates/dimby/src/main.rs"),
            "dimby::main"
        );
        assert_eq!(qualify("free_fastpath", "src/jemalloc.c"), "free_fastpath");
        assert_eq!(
            qualify("__rust_alloc", "/work/main/crates/dimby/src/main.rs"),
            "__rust_alloc"
        );
        assert_eq!(
            qualify(
                "do_alloc<alloc::alloc::Global>",
                "/rust/deps/hashbrown-0.15.5/src/raw/alloc.rs"
            ),
            "hashbrown::raw::alloc::do_alloc<alloc::alloc::Global>"
        );
        assert_eq!(qualify("x", "Unknown"), "x");
        assert_eq!(
            qualify(
                "{closure#0}<tokio::X>",
                "/work/main/crates/admin/src/pprof.rs"
            ),
            "dimby::admin::pprof::{closure#0}<tokio::X>"
        );
        assert_eq!(
            qualify("<T as Clone>::clone", "/work/main/crates/dimby/src/x.rs"),
            "<T as Clone>::clone"
        );
    }

    #[test]
    fn workspace_frames_are_recognized() {
        assert!(is_workspace_frame("dimby::profiling::run"));
        assert!(is_workspace_frame(
            "<cluster::Cluster as core::fmt::Debug>::fmt"
        ));
        assert!(!is_workspace_frame("dimbyx::f"));
        assert!(!is_workspace_frame("tokio::runtime::park"));
    }

    #[test]
    fn an_empty_profile_still_draws_valid_svg() {
        let svg = Stacks::default().flamegraph_svg("CPU").expect("svg");
        assert!(String::from_utf8(svg).expect("utf-8").contains("<svg"));
    }
}
