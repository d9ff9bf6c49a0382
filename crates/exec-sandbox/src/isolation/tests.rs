//! The isolation policy as plain logic: shorthand, path resolution, the
//! floor, and bubblewrap's command line.

use std::path::{Path, PathBuf};

use agentproc_core::exec::{Isolation, IsolationRequest, NetworkAccess, ReadAccess};

use super::*;

fn config() -> IsolationConfig {
    IsolationConfig {
        home: Some(PathBuf::from("/home/dev")),
        bwrap: Some(PathBuf::from("/usr/bin/bwrap")),
        ..IsolationConfig::default()
    }
}

fn policy(network: NetworkAccess, write: &[&str], read: ReadAccess, deny: &[&str]) -> Isolation {
    Isolation {
        network,
        write: write.iter().map(PathBuf::from).collect(),
        read,
        deny: deny.iter().map(PathBuf::from).collect(),
    }
}

const WORKDIR: &str = "/home/dev/project";

#[test]
fn no_policy_no_default_no_floor_means_no_isolation() {
    assert_eq!(config().effective(None, Path::new(WORKDIR)), Ok(None));
}

#[test]
fn the_workspace_shorthand_writes_the_workdir_and_denies_secrets() {
    let effective = config()
        .effective(Some(&IsolationRequest::Workspace), Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert_eq!(effective.network, NetworkAccess::None);
    assert_eq!(effective.write, vec![PathBuf::from(WORKDIR)]);
    assert_eq!(effective.read, ReadAccess::All);
    for secret in [
        "/home/dev/.ssh",
        "/home/dev/.aws",
        "/home/dev/.config/gh",
        "/var/run/docker.sock",
    ] {
        assert!(
            effective.deny.contains(&PathBuf::from(secret)),
            "{secret} in {:?}",
            effective.deny
        );
    }
}

#[test]
fn paths_resolve_against_the_home_and_the_workdir() {
    let request = IsolationRequest::Policy(policy(
        NetworkAccess::Loopback,
        &["build", "~/.cache/pip", "/var/tmp/../tmp/out"],
        ReadAccess::Only(vec![PathBuf::from("../shared")]),
        &["~/.ssh", "secrets/./key"],
    ));
    let effective = config()
        .effective(Some(&request), Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert_eq!(
        effective.write,
        [
            "/home/dev/project/build",
            "/home/dev/.cache/pip",
            "/var/tmp/out"
        ]
        .map(PathBuf::from)
        .to_vec()
    );
    assert_eq!(
        effective.read,
        ReadAccess::Only(vec![PathBuf::from("/home/dev/shared")])
    );
    assert!(effective.deny.contains(&PathBuf::from("/home/dev/.ssh")));
    assert!(
        effective
            .deny
            .contains(&PathBuf::from("/home/dev/project/secrets/key"))
    );
}

#[test]
fn an_empty_write_list_means_the_workdir() {
    let request = IsolationRequest::Policy(policy(NetworkAccess::Host, &[], ReadAccess::All, &[]));
    let effective = config()
        .effective(Some(&request), Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert_eq!(effective.write, vec![PathBuf::from(WORKDIR)]);
}

#[test]
fn a_request_may_tighten_the_floor_but_not_loosen_it() {
    let mut config = config();
    config.minimum = Some(IsolationRequest::Policy(policy(
        NetworkAccess::Loopback,
        &["/home/dev"],
        ReadAccess::All,
        &["~/.ssh"],
    )));
    let loose = IsolationRequest::Policy(policy(NetworkAccess::Host, &[], ReadAccess::All, &[]));
    assert_eq!(
        config.effective(Some(&loose), Path::new(WORKDIR)),
        Err(
            "isolation.network \"host\" is looser than this agentproc's minimum (\"loopback\")."
                .to_owned()
        )
    );
    let outside =
        IsolationRequest::Policy(policy(NetworkAccess::None, &["/etc"], ReadAccess::All, &[]));
    let error = config
        .effective(Some(&outside), Path::new(WORKDIR))
        .expect_err("outside the floor");
    assert!(
        error.starts_with("isolation.write \"/etc\" is outside"),
        "{error}"
    );

    // Tighter: allowed, and the floor's denied paths are added.
    let tight = IsolationRequest::Policy(policy(NetworkAccess::None, &[], ReadAccess::All, &[]));
    let effective = config
        .effective(Some(&tight), Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert_eq!(effective.network, NetworkAccess::None);
    assert!(effective.deny.contains(&PathBuf::from("/home/dev/.ssh")));

    // No request and no default: the floor itself.
    let floor = config
        .effective(None, Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert_eq!(floor.network, NetworkAccess::Loopback);
}

#[test]
fn a_read_list_floor_refuses_reading_everything() {
    let mut config = config();
    config.minimum = Some(IsolationRequest::Policy(policy(
        NetworkAccess::Host,
        &["/home/dev/project"],
        ReadAccess::Only(vec![PathBuf::from("/srv/data")]),
        &[],
    )));
    let all = IsolationRequest::Policy(policy(NetworkAccess::None, &[], ReadAccess::All, &[]));
    let error = config
        .effective(Some(&all), Path::new(WORKDIR))
        .expect_err("looser");
    assert!(
        error.starts_with("isolation.read \"all\" is looser"),
        "{error}"
    );
    let narrower = IsolationRequest::Policy(policy(
        NetworkAccess::None,
        &[],
        ReadAccess::Only(vec![PathBuf::from("/srv/data/2024")]),
        &[],
    ));
    assert!(
        config
            .effective(Some(&narrower), Path::new(WORKDIR))
            .is_ok()
    );
}

#[test]
fn agentproc_own_state_is_always_denied() {
    let mut config = config();
    config.always_deny = vec![PathBuf::from("/var/lib/agentproc/state")];
    let effective = config
        .effective(Some(&IsolationRequest::Workspace), Path::new(WORKDIR))
        .expect("allowed")
        .expect("isolated");
    assert!(
        effective
            .deny
            .contains(&PathBuf::from("/var/lib/agentproc/state"))
    );
}

#[test]
fn bubblewrap_gets_namespaces_binds_and_denials_in_order() {
    // Not under /tmp: denials there are moot (the sandbox's /tmp is its own).
    let dir = PathBuf::from(format!(
        "/var/tmp/agentproc-isolation-args-{}",
        std::process::id()
    ));
    let work = dir.join("work");
    let secret_dir = work.join("secrets");
    let secret_file = work.join("token.txt");
    std::fs::create_dir_all(&secret_dir).expect("mkdir");
    std::fs::write(&secret_file, "x").expect("write");
    let isolation = Isolation {
        network: NetworkAccess::None,
        write: vec![work.clone()],
        read: ReadAccess::All,
        deny: vec![
            secret_dir.clone(),
            secret_file.clone(),
            work.join("missing"),
            PathBuf::from("/nonexistent/elsewhere"),
        ],
    };
    let args: Vec<String> = bwrap_args(&isolation, &work)
        .expect("args")
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let joined = args.join(" ");
    for expected in [
        "--die-with-parent",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--cap-drop ALL",
        "--ro-bind / /",
        "--dev /dev --proc /proc --tmpfs /tmp",
        &format!("--bind {0} {0}", work.display()),
        &format!("--tmpfs {0} --remount-ro {0}", secret_dir.display()),
        &format!("--ro-bind /dev/null {}", secret_file.display()),
        &format!(
            "--tmpfs {0}/missing --remount-ro {0}/missing",
            work.display()
        ),
        &format!("--chdir {}", work.display()),
        "--seccomp 3",
    ] {
        assert!(joined.contains(expected), "{expected:?} in {joined}");
    }
    assert!(!joined.contains("/nonexistent/elsewhere"), "{joined}");
    let in_tmp = Isolation {
        deny: vec![PathBuf::from("/tmp/secret")],
        ..isolation.clone()
    };
    let args: Vec<String> = bwrap_args(&in_tmp, &work)
        .expect("args")
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    assert!(
        !args.iter().any(|arg| arg == "/tmp/secret"),
        "hidden by the private /tmp"
    );
    // Denials come after the binds they cover.
    let bind = joined.find("--bind ").expect("bind");
    let deny = joined.find("--remount-ro").expect("deny");
    assert!(bind < deny);

    let host = Isolation {
        network: NetworkAccess::Host,
        ..isolation.clone()
    };
    let args = bwrap_args(&host, &work).expect("args");
    assert!(!args.iter().any(|arg| arg == "--unshare-net"));
    assert!(!mechanisms(&host).contains(&"network-namespace"));

    let missing = Isolation {
        write: vec![dir.join("no-such-dir")],
        ..isolation
    };
    let error = bwrap_args(&missing, &work).expect_err("missing root");
    assert!(error.contains("does not exist"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression (review of issue 15): a writable root under /tmp is bound
/// back into the private /tmp, so denied paths inside it (a `.env`,
/// agentproc's own state, the SSH agent's socket) must be covered there
/// too; they were skipped as "hidden by the private /tmp".
#[test]
fn denials_inside_a_root_under_tmp_are_covered() {
    let dir = std::env::temp_dir().join(format!("agentproc-isolation-tmp-{}", std::process::id()));
    let work = dir.join("work");
    std::fs::create_dir_all(work.join("state")).expect("mkdir");
    std::fs::write(work.join(".env"), "API_KEY=x").expect("write");
    let isolation = Isolation {
        network: NetworkAccess::None,
        write: vec![work.clone()],
        read: ReadAccess::All,
        deny: vec![
            work.join(".env"),
            work.join("state"),
            dir.join("elsewhere-in-tmp"),
        ],
    };
    let joined = bwrap_args(&isolation, &work)
        .expect("args")
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        format!("--ro-bind /dev/null {}", work.join(".env").display()),
        format!("--tmpfs {0} --remount-ro {0}", work.join("state").display()),
    ] {
        assert!(joined.contains(&expected), "{expected:?} in {joined}");
    }
    // Outside every bound root, the private /tmp hides it anyway.
    assert!(!joined.contains("elsewhere-in-tmp"), "{joined}");
    // A read root under /tmp is bound back too.
    let read_list = Isolation {
        write: Vec::new(),
        read: ReadAccess::Only(vec![work.clone()]),
        ..isolation
    };
    let joined = bwrap_args(&read_list, &work)
        .expect("args")
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        joined.contains(&format!(
            "--ro-bind /dev/null {}",
            work.join(".env").display()
        )),
        "{joined}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_seccomp_filter_is_built_for_each_network() {
    for network in [
        NetworkAccess::None,
        NetworkAccess::Loopback,
        NetworkAccess::Host,
    ] {
        let bytes = seccomp::filter_bytes(network).expect("filter");
        assert!(
            !bytes.is_empty() && bytes.len().is_multiple_of(8),
            "{network:?}"
        );
    }
    // The socket rule makes the no-network filter longer.
    assert!(
        seccomp::filter_bytes(NetworkAccess::None)
            .expect("filter")
            .len()
            > seccomp::filter_bytes(NetworkAccess::Host)
                .expect("filter")
                .len()
    );
}
