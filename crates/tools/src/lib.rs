//! The operator tools of the `dimby` binary, behind its default-on `tools` feature: the demo on
//! embedded stand-ins, the stand-ins on their own (`dimby sim`), the benchmarks (`dimby bench`),
//! the drills (`dimby drill`), the performance guard's tools (`dimby perf`) and local profiling
//! runs (`dimby profile run`).
//! The production image is built without them, so it links no stand-in.

pub mod bench;
pub mod demo;
pub mod drill;
pub mod perf;
pub mod profile;
pub mod standin;
