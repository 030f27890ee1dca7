//! The commit the binary is built from, for `dimby --version`, `dimby_build_info` and the log:
//! `DIMBY_BUILD_COMMIT` when set (the image's build argument, CI), else `git rev-parse --short=12
//! HEAD` when git and a repository are there, else `unknown`. The crate reads it as
//! `env!("DIMBY_COMMIT")`.
//!
//! It reruns only when `DIMBY_BUILD_COMMIT` changes or HEAD moves (git's HEAD file, the branch it
//! points to, packed-refs), never on every build: a commit rebuilds this crate and nothing else.

#[path = "src/build_commit.rs"]
mod build_commit;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/build_commit.rs");
    println!("cargo:rerun-if-env-changed=DIMBY_BUILD_COMMIT");
    let commit = match build_commit::given(std::env::var_os("DIMBY_BUILD_COMMIT")) {
        Ok(Some(commit)) => commit,
        Ok(None) => from_git().unwrap_or_else(|| build_commit::UNKNOWN.to_owned()),
        Err(error) => {
            // A wrong build argument must not become a binary that names a wrong commit.
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    println!("cargo:rustc-env=DIMBY_COMMIT={commit}");
}

/// HEAD's commit, watching what moves it; `None` without git or a repository.
fn from_git() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| out.stdout)
    };
    // The files whose change means HEAD moved: HEAD itself (a checkout; per worktree), the
    // branch HEAD is on (a commit; unless detached), packed-refs (where branches go when packed).
    // Watched before HEAD is read, so that a repository without a commit yet is read again
    // after its first.
    let branch = git(&["symbolic-ref", "-q", "HEAD"])
        .and_then(|out| String::from_utf8(out).ok())
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty());
    let mut args = vec![
        "rev-parse",
        "--git-path",
        "HEAD",
        "--git-path",
        "packed-refs",
    ];
    if let Some(branch) = &branch {
        args.extend(["--git-path", branch.as_str()]);
    }
    if let Some(paths) = git(&args).and_then(|out| String::from_utf8(out).ok()) {
        for (i, path) in paths.lines().enumerate() {
            let path = dir.join(path);
            if i == 2 && !path.exists() {
                // The branch is packed, or has no commit yet: a commit writes it as a loose
                // file, which changes its folder.
                watch(path.parent());
            } else {
                watch(Some(&path));
            }
        }
    }
    build_commit::from_git(&git(&["rev-parse", "--short=12", "HEAD"])?)
}

/// Reruns the build script when `path` changes. A path that does not exist is not watched: cargo
/// would rerun the script on every build.
fn watch(path: Option<&Path>) {
    if let Some(path) = path.filter(|p| p.exists())
        && let Some(path) = path.to_str()
    {
        println!("cargo:rerun-if-changed={path}");
    }
}
