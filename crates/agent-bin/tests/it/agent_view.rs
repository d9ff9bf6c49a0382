//! The agent view through the binary: `run --agent` prints the view
//! instead of the raw output, `logs --agent` prints it for any process, and
//! the HTTP answer carries its description.

use std::process::Command;

use super::{BIN, start_server};

/// 4000 noise lines, an error with its location, 4000 more.
const BUILD: &str = "i=0; while [ $i -lt 4000 ]; do echo \"   Compiling dep$i v1.0.$i\"; i=$((i+1)); done; echo 'error[E0425]: cannot find value `total` in this scope'; echo '  --> src/report.rs:88:13'; i=0; while [ $i -lt 4000 ]; do echo \"test case_$i ... ok\"; i=$((i+1)); done; echo 'test result: FAILED. 3999 passed; 1 failed'; exit 101";

#[test]
fn run_and_logs_print_the_agent_view() {
    let server = start_server(&[]);
    let address = format!("http://{}", server.address);
    let run = Command::new(BIN)
        .args([
            "run",
            "--server",
            &address,
            "--agent",
            "--max-tokens",
            "500",
            "--",
            BUILD,
        ])
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(101));
    let shown = String::from_utf8_lossy(&run.stdout);
    for must in [
        "error[E0425]: cannot find value `total` in this scope",
        "--> src/report.rs:88:13",
        "test result: FAILED. 3999 passed; 1 failed",
    ] {
        assert!(shown.contains(must), "{must:?} missing:\n{shown}");
    }
    assert!(shown.lines().any(|line| line.starts_with("[… ")), "{shown}");
    assert!(
        shown.lines().count() < 60,
        "the raw output was printed:\n{shown}"
    );

    // The same view for any process, by id.
    let list = server.json("GET", "/api/v0/processes/list", "");
    let id = list["processes"][0]["id"].as_str().expect("id").to_owned();
    let logs = Command::new(BIN)
        .args([
            "logs",
            "--server",
            &address,
            "--agent",
            "--max-tokens",
            "500",
            &id,
        ])
        .output()
        .expect("logs");
    assert_eq!(logs.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&logs.stdout), shown);

    // Over HTTP: the description of the view.
    let answer = server.json(
        "GET",
        &format!("/api/v0/processes/{id}/output?view=agent&max_tokens=500"),
        "",
    );
    assert_eq!(answer["output"].as_str(), Some(&*shown));
    let view = &answer["view"];
    assert!(view["tokens"].as_u64().expect("tokens") <= 500);
    assert_eq!(view["source_lines"], 8003);
    assert_eq!(view["source"], "log");

    // A budget out of range is refused by the CLI and the server alike.
    let refused = Command::new(BIN)
        .args([
            "logs",
            "--server",
            &address,
            "--agent",
            "--max-tokens",
            "100",
            &id,
        ])
        .output()
        .expect("logs");
    assert_eq!(refused.status.code(), Some(2));
    let (status, body) = server.request(
        "GET",
        &format!("/api/v0/processes/{id}/output?view=agent&max_tokens=100"),
        "",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("from 200 to 32000"), "{body}");
}
