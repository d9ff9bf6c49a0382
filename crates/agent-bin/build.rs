//! Records the git revision the crate is built from (when built from a git
//! checkout) as `AGENTPROC_GIT_REVISION`, for `agentproc --version`.

fn main() {
    println!("cargo:rerun-if-env-changed=AGENTPROC_GIT_REVISION");
    let revision = std::env::var("AGENTPROC_GIT_REVISION").ok().or_else(|| {
        let output = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    });
    let revision = revision
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=AGENTPROC_GIT_REVISION={revision}");
    // A new commit changes HEAD (or the ref it points at).
    if let Ok(output) = std::process::Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        && output.status.success()
    {
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/refs/heads");
    }
}
