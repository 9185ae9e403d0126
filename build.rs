//! Records the git commit qbench is built from, so that every run's record says exactly which
//! software produced it (IEC 62304: the tools and their versions). Without git, or outside a
//! checkout, the commit is simply absent.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    if let Some(commit) = commit {
        let suffix = if dirty { "-modified" } else { "" };
        println!("cargo:rustc-env=QBENCH_GIT_COMMIT={commit}{suffix}");
    }
}
