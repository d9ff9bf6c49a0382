//! Configuration tests: defaults, every layer's precedence, and errors that
//! name the key. `figment::Jail` isolates environment variables and files.

// figment's `Jail` closures return its (large) error type; that is its API.
#![allow(clippy::result_large_err)]

use std::path::Path;

use agentproc_core::ResourceLimits;
use agentproc_exec_sandbox::{CgroupMode, Niceness, OomScoreAdj};
use figment::Jail;

use super::*;

fn args() -> ServeArgs {
    ServeArgs::default()
}

const NO_SYSTEM_FILE: &str = "/agentproc/test/no-system-config.toml";

#[test]
fn zero_configuration_gives_the_documented_defaults() {
    Jail::expect_with(|_jail| {
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("defaults load");
        assert_eq!(
            settings.listen,
            ListenAddr::Tcp("127.0.0.1:4242".parse().expect("addr"))
        );
        assert_eq!(settings.workdir, None);
        assert_eq!(settings.shell, "sh");
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.limits.reap_after, Duration::from_secs(300));
        assert_eq!(settings.limits.token_reap_after, Duration::from_secs(3600));
        assert_eq!(settings.limits.pipe_drain_grace, Duration::from_secs(5));
        assert_eq!(settings.limits.shutdown_grace, Duration::from_secs(5));
        assert_eq!(settings.limits.deadline_grace, Duration::from_secs(5));
        assert_eq!(settings.limits.max_running, 256);
        assert_eq!(settings.limits.max_running_per_chat, None);
        assert_eq!(settings.limits.max_retained, 1024);
        assert_eq!(settings.state_dir, None);
        assert_eq!(settings.output_dir, None);
        assert_eq!(settings.output_max_bytes_per_process, 64 << 20);
        assert_eq!(settings.output_max_total_bytes, 1 << 30);
        assert_eq!(settings.api.stream_keepalive, Duration::from_secs(15));
        assert_eq!(settings.limits.stdin_timeout, Duration::from_secs(10));
        assert_eq!(settings.api.max_wait, Duration::from_secs(300));
        assert_eq!(settings.api.list_limit, 10);
        assert_eq!(settings.api.max_body_bytes, 1024 * 1024);
        assert_eq!(settings.executor, ExecutorSettings::Local);
        assert_eq!(settings.mcp_max_result_bytes, 16 * 1024);
        Ok(())
    });
}

#[test]
fn the_sandbox_policy_comes_from_configuration() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "agentproc.toml",
            r#"
                executor = "sandbox"
                sandbox_cgroups = "v1"
                sandbox_niceness = "-2"
                sandbox_oom_score_adj = 500
                sandbox_rlimit_nofile = 4096
                sandbox_rlimit_core = "0"
                sandbox_rlimit_cpu = "10m"
                sandbox_memory_bytes = "512MiB"
                sandbox_cpu_cores = 1.5
                sandbox_pids = 256
                sandbox_max_memory_bytes = "2GiB"
                sandbox_max_pids = 1024
            "#,
        )?;
        let settings = load(
            &ServeArgs {
                config: Some("agentproc.toml".into()),
                ..args()
            },
            Path::new(NO_SYSTEM_FILE),
        )
        .expect("loads");
        let ExecutorSettings::Sandbox(config) = settings.executor else {
            panic!("sandbox expected");
        };
        assert_eq!(config.cgroups, CgroupMode::V1);
        assert_eq!(config.niceness, Niceness::Relative(-2));
        assert_eq!(config.oom_score_adj, OomScoreAdj::Value(500));
        assert_eq!(config.rlimits.open_files, Some(4096));
        assert_eq!(config.rlimits.core_bytes, Some(0));
        assert_eq!(config.rlimits.cpu_seconds, Some(600));
        assert_eq!(config.rlimits.address_space_bytes, None);
        assert_eq!(
            config.default_limits,
            ResourceLimits {
                memory_bytes: Some(512 << 20),
                memory_high_bytes: None,
                cpu_millicores: Some(1500),
                pids: Some(256),
            }
        );
        assert_eq!(config.max_limits.memory_bytes, Some(2 << 30));
        assert_eq!(config.max_limits.pids, Some(1024));
        assert_eq!(config.max_limits.cpu_millicores, None);
        Ok(())
    });
}

#[test]
fn niceness_and_oom_scores_are_checked() {
    assert_eq!(parse_niceness("+5"), Ok(Niceness::Relative(5)));
    assert_eq!(parse_niceness("-3"), Ok(Niceness::Relative(-3)));
    assert_eq!(parse_niceness("10"), Ok(Niceness::Absolute(10)));
    assert_eq!(parse_niceness("inherit"), Ok(Niceness::Inherit));
    assert!(parse_niceness("20").is_err());
    assert!(parse_niceness("nice").is_err());
    assert_eq!(parse_oom_score("auto"), Ok(OomScoreAdj::Auto));
    assert_eq!(parse_oom_score("-1000"), Ok(OomScoreAdj::Value(-1000)));
    assert!(parse_oom_score("1001").is_err());
    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_EXECUTOR", "docker");
        Ok(args())
    });
    assert!(message.contains("key \"executor\""), "{message}");
    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_NICENESS", "very");
        Ok(args())
    });
    assert!(message.contains("key \"sandbox_niceness\""), "{message}");
    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_CPU_CORES", "-1");
        Ok(args())
    });
    assert!(message.contains("key \"sandbox_cpu_cores\""), "{message}");
    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_MEMORY_BYTES", "lots");
        Ok(args())
    });
    assert!(message.contains("sandbox_memory_bytes"), "{message}");
}

#[test]
fn default_toml_documents_exactly_the_known_keys() {
    let table: toml_keys::Table = DEFAULT_TOML.parse().expect("default.toml parses");
    let mut documented: Vec<&str> = table.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut known = KEYS.to_vec();
    known.sort_unstable();
    assert_eq!(documented, known);
}

/// Parsing the defaults with figment's own TOML support.
mod toml_keys {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    pub(super) struct Table(BTreeMap<String, figment::value::Value>);

    impl Table {
        pub(super) fn keys(&self) -> impl Iterator<Item = &String> {
            self.0.keys()
        }
    }

    impl FromStr for Table {
        type Err = figment::Error;

        fn from_str(text: &str) -> Result<Self, Self::Err> {
            use figment::providers::{Format, Toml};
            let figment = figment::Figment::from(Toml::string(text));
            Ok(Self(figment.extract()?))
        }
    }
}

#[test]
fn each_layer_overrides_the_one_below() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "system.toml",
            "listen = \"127.0.0.1:1001\"\nlist_limit = 11\nshell = \"bash\"\nreap_after = \"1m\"",
        )?;
        jail.create_file(
            "user.toml",
            "listen = \"127.0.0.1:1002\"\nlist_limit = 12\nshell = \"zsh\"",
        )?;
        jail.set_env("AGENTPROC_LISTEN", "127.0.0.1:1003");
        jail.set_env("AGENTPROC_LIST_LIMIT", "13");
        let mut args = args();
        args.config = Some("user.toml".into());
        args.listen = Some("127.0.0.1:1004".into());
        let settings = load(&args, Path::new("system.toml")).expect("loads");
        assert_eq!(
            settings.listen.to_string(),
            "127.0.0.1:1004",
            "flag beats env"
        );
        assert_eq!(settings.api.list_limit, 13, "env beats --config");
        assert_eq!(settings.shell, "zsh", "--config beats the system file");
        assert_eq!(
            settings.limits.reap_after,
            Duration::from_secs(60),
            "system file beats defaults"
        );
        assert_eq!(
            settings.limits.pipe_drain_grace,
            Duration::from_secs(5),
            "defaults remain"
        );
        Ok(())
    });
}

#[test]
fn durations_accept_text_and_seconds() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_SHUTDOWN_GRACE", "250ms");
        jail.set_env("AGENTPROC_MAX_WAIT", "90");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert_eq!(settings.limits.shutdown_grace, Duration::from_millis(250));
        assert_eq!(settings.api.max_wait, Duration::from_secs(90));
        Ok(())
    });
}

fn error_for(setup: impl FnOnce(&mut Jail) -> figment::error::Result<ServeArgs>) -> String {
    let mut message = String::new();
    Jail::expect_with(|jail| {
        let args = setup(jail)?;
        message = match load(&args, Path::new(NO_SYSTEM_FILE)) {
            Ok(settings) => panic!("expected an error, got {settings:?}"),
            Err(error) => format!("{error:#}"),
        };
        Ok(())
    });
    message
}

#[test]
fn bad_values_name_their_key() {
    let message = error_for(|jail| {
        jail.create_file("bad.toml", "reap_after = \"banana\"")?;
        Ok(ServeArgs {
            config: Some("bad.toml".into()),
            ..args()
        })
    });
    assert!(message.contains("reap_after"), "{message}");
    assert!(message.contains("banana"), "{message}");

    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_LIST_LIMIT", "lots");
        Ok(args())
    });
    assert!(message.contains("list_limit"), "{message}");

    let message = error_for(|_| {
        Ok(ServeArgs {
            listen: Some("localhost".into()),
            ..args()
        })
    });
    assert!(message.contains("\"listen\""), "{message}");
    assert!(message.contains("from the command line"), "{message}");

    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_MAX_RUNNING", "0");
        Ok(args())
    });
    assert!(message.contains("key \"max_running\" (from environment variable AGENTPROC_MAX_RUNNING): must be at least 1"), "{message}");

    for key in ["stream_keepalive", "stdin_timeout", "request_read_timeout"] {
        let message = error_for(|jail| {
            jail.set_env(format!("AGENTPROC_{}", key.to_uppercase()), "0s");
            Ok(args())
        });
        assert!(
            message.contains(&format!("key \"{key}\"")) && message.contains("more than zero"),
            "{message}"
        );
    }

    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_OUTPUT_MAX_BYTES_PER_PROCESS", "10");
        Ok(args())
    });
    assert!(
        message.contains("\"output_max_bytes_per_process\"") && message.contains("at least 64KiB"),
        "{message}"
    );

    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_OUTPUT_MAX_TOTAL_BYTES", "0");
        Ok(args())
    });
    assert!(
        message.contains("\"output_max_total_bytes\"")
            && message.contains("set output_max_bytes_per_process to 0"),
        "{message}"
    );

    let message = error_for(|jail| {
        jail.set_env("AGENTPROC_LOG_LEVEL", "loud");
        Ok(args())
    });
    assert!(message.contains("log_level"), "{message}");
}

#[test]
fn unknown_keys_in_files_are_errors() {
    let message = error_for(|jail| {
        jail.create_file("typo.toml", "lisen = \"127.0.0.1:1\"")?;
        Ok(ServeArgs {
            config: Some("typo.toml".into()),
            ..args()
        })
    });
    assert!(message.contains("lisen"), "{message}");
}

#[test]
fn a_missing_config_file_is_an_error_but_a_missing_system_file_is_not() {
    let message = error_for(|_| {
        Ok(ServeArgs {
            config: Some("nowhere.toml".into()),
            ..args()
        })
    });
    assert!(message.contains("nowhere.toml"), "{message}");
}

#[test]
fn unrelated_agentproc_variables_are_ignored_and_reported() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_TOKEN", "secret");
        jail.set_env("AGENTPROC_LISTN", "127.0.0.1:1");
        load(&args(), Path::new(NO_SYSTEM_FILE)).expect("still loads");
        Ok(())
    });
    let unknown = unknown_env_vars(
        [
            "AGENTPROC_LISTN",
            "AGENTPROC_LISTEN",
            "PATH",
            "AGENTPROC_LIST_LIMIT",
            "AGENTPROC_SERVER",
            "AGENTPROC_GIT_REVISION",
        ]
        .map(String::from),
    );
    assert_eq!(unknown, ["AGENTPROC_LISTN"]);
}

#[test]
fn an_empty_workdir_means_home() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_WORKDIR", "/srv/project");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert_eq!(settings.workdir, Some(PathBuf::from("/srv/project")));
        Ok(())
    });
}

#[test]
fn sizes_accept_units_and_plain_numbers() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_OUTPUT_MAX_TOTAL_BYTES", "2GiB");
        jail.set_env("AGENTPROC_OUTPUT_MAX_BYTES_PER_PROCESS", "1048576");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert_eq!(settings.output_max_total_bytes, 2 << 30);
        assert_eq!(settings.output_max_bytes_per_process, 1 << 20);
        Ok(())
    });
}

#[test]
fn the_mcp_result_budget_is_configured_within_its_range() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_MCP_MAX_RESULT_BYTES", "64KiB");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert_eq!(settings.mcp_max_result_bytes, 64 << 10);
        assert_eq!(crate::mcp::mcp_config(&settings).max_result_bytes, 64 << 10);
        Ok(())
    });
    for value in ["100", "2MiB"] {
        let message = error_for(|jail| {
            jail.set_env("AGENTPROC_MCP_MAX_RESULT_BYTES", value);
            Ok(args())
        });
        assert!(message.contains("mcp_max_result_bytes"), "{message}");
        assert!(message.contains("from 1KiB to 1MiB"), "{message}");
    }
}

#[test]
fn tokens_come_from_the_key_the_environment_or_a_file() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_TOKEN", "from-env");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        let token = settings.api.token.expect("a token");
        assert!(token.matches(b"from-env"));
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_file("token", "  from-file\n")?;
        jail.set_env("AGENTPROC_TOKEN_FILE", "token");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert!(settings.api.token.expect("a token").matches(b"from-file"));
        Ok(())
    });
    let both = error_for(|jail| {
        jail.create_file("token", "x")?;
        jail.set_env("AGENTPROC_TOKEN_FILE", "token");
        jail.set_env("AGENTPROC_TOKEN", "y");
        Ok(args())
    });
    assert!(both.contains("not both"), "{both}");
    let empty = error_for(|jail| {
        jail.create_file("token", "\n")?;
        jail.set_env("AGENTPROC_TOKEN_FILE", "token");
        Ok(args())
    });
    assert!(empty.contains("empty"), "{empty}");
    let blank = error_for(|jail| {
        jail.create_file("agentproc.toml", "token = \"   \"")?;
        Ok(ServeArgs {
            config: Some("agentproc.toml".into()),
            ..args()
        })
    });
    assert!(
        blank.contains("key \"token\"") && blank.contains("only whitespace"),
        "{blank}"
    );
    // An empty variable does not turn off a file's token.
    Jail::expect_with(|jail| {
        jail.create_file("agentproc.toml", "token = \"from-file\"")?;
        jail.set_env("AGENTPROC_TOKEN", "");
        let settings = load(
            &ServeArgs {
                config: Some("agentproc.toml".into()),
                ..args()
            },
            Path::new(NO_SYSTEM_FILE),
        )
        .expect("loads");
        assert!(settings.api.token.expect("a token").matches(b"from-file"));
        Ok(())
    });
    let missing = error_for(|jail| {
        jail.set_env("AGENTPROC_TOKEN_FILE", "/nonexistent/token");
        Ok(args())
    });
    assert!(missing.contains("key \"token_file\""), "{missing}");
}

#[test]
fn public_addresses_need_a_token_or_an_explicit_override() {
    let refused = error_for(|_jail| {
        Ok(ServeArgs {
            listen: Some("0.0.0.0:4242".into()),
            ..args()
        })
    });
    assert!(
        refused.contains("refusing to listen on 0.0.0.0:4242 without a token"),
        "{refused}"
    );
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_TOKEN", "t");
        let public = ServeArgs {
            listen: Some("0.0.0.0:4242".into()),
            ..args()
        };
        load(&public, Path::new(NO_SYSTEM_FILE)).expect("with a token");
        jail.clear_env();
        let insecure = ServeArgs {
            insecure_no_auth: true,
            ..public
        };
        load(&insecure, Path::new(NO_SYSTEM_FILE)).expect("with the override");
        Ok(())
    });
}

#[test]
fn unix_socket_addresses() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_LISTEN", "unix:/run/agentproc.sock");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        assert_eq!(
            settings.listen,
            ListenAddr::Unix("/run/agentproc.sock".into())
        );
        assert!(settings.listen.is_local());
        Ok(())
    });
    let bare = error_for(|jail| {
        jail.set_env("AGENTPROC_LISTEN", "unix:");
        Ok(args())
    });
    assert!(bare.contains("needs a socket path"), "{bare}");
}

#[test]
fn sandbox_values_from_the_environment_keep_their_meaning() {
    Jail::expect_with(|jail| {
        jail.set_env("AGENTPROC_EXECUTOR", "sandbox");
        jail.set_env("AGENTPROC_SANDBOX_NICENESS", "+3");
        jail.set_env("AGENTPROC_SANDBOX_RLIMIT_CPU", "1500ms");
        let settings = load(&args(), Path::new(NO_SYSTEM_FILE)).expect("loads");
        let ExecutorSettings::Sandbox(config) = settings.executor else {
            panic!("sandbox expected");
        };
        // Relative, not the absolute 3 a number would mean.
        assert_eq!(config.niceness, Niceness::Relative(3));
        assert_eq!(config.rlimits.cpu_seconds, Some(2), "rounded up");
        Ok(())
    });
    let above = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_PIDS", "100");
        jail.set_env("AGENTPROC_SANDBOX_MAX_PIDS", "50");
        Ok(args())
    });
    assert!(
        above.contains("key \"sandbox_pids\"") && above.contains("above its maximum"),
        "{above}"
    );
    let huge = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_PIDS", "99999999999");
        Ok(args())
    });
    assert!(huge.contains("kernel's limit"), "{huge}");
    let sized = error_for(|jail| {
        jail.set_env("AGENTPROC_SANDBOX_RLIMIT_NOFILE", "1KiB");
        Ok(args())
    });
    assert!(sized.contains("sandbox_rlimit_nofile"), "{sized}");
}
