//! The same answers on a Ballista cluster: a scheduler and two executors started as processes of
//! this binary on localhost (the real gRPC and Arrow Flight path), the sample lake shared by path;
//! the correlation and every hunt run through it and compared with the in-process results, row for
//! row. Built with the `cluster` feature only.

#![cfg(feature = "cluster")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, root};

/// The cluster's processes, stopped when the test ends however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(args: &[String]) -> Child {
    bin().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// A scheduler and two executors; returns the cluster's URL once it answers a query.
fn start_cluster(lake: &Path) -> (Processes, String) {
    let port = free_port();
    let mut procs = Processes(vec![spawn(&["cluster".into(), "scheduler".into(), "--port".into(), port.to_string()])]);
    for _ in 0..2 {
        procs.0.push(spawn(&[
            "cluster".into(),
            "executor".into(),
            "--scheduler".into(),
            format!("localhost:{port}"),
            "--port".into(),
            free_port().to_string(),
            "--grpc-port".into(),
            free_port().to_string(),
            "--concurrency".into(),
            "2".into(),
        ]));
    }
    let url = format!("df://localhost:{port}");
    let started = Instant::now();
    loop {
        let out = bin()
            .args(["sql", "--format", "csv", "--cluster", &url, "--lake"])
            .arg(lake)
            .arg("SELECT count(*) AS n FROM cloudtrail")
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the cluster did not answer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    (procs, url)
}

/// A CSV's lines, sorted: the rows whatever order a query without ORDER BY gives them in.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn run(args: &[&str], lake: &Path, cluster: Option<&str>) -> std::process::Output {
    let mut cmd: Command = bin();
    cmd.args(args).arg("--lake").arg(lake);
    if let Some(url) = cluster {
        cmd.args(["--cluster", url]);
    }
    cmd.output().unwrap()
}

#[test]
fn correlation_and_every_hunt_give_the_same_rows_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = bin().arg("ingest").arg("-q").arg("--lake").arg(&lake).arg(root().join("sample-data")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_procs, url) = start_cluster(&lake);

    // SQL with trailflow's functions and the JSON functions.
    let q = "SELECT event_name, cidr_contains('203.0.113.0/24', source_ip) AS bad, json_get_str(request_parameters, 'networkAclId') AS acl, \
             count(*) AS n FROM cloudtrail GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let here = run(&["sql", "--format", "csv", q], &lake, None);
    let there = run(&["sql", "--format", "csv", q], &lake, Some(&url));
    assert!(there.status.success(), "{}", String::from_utf8_lossy(&there.stderr));
    assert_eq!(String::from_utf8_lossy(&there.stdout), String::from_utf8_lossy(&here.stdout));

    // The correlation (acl_allows over the stored derived tables), row for row.
    let here = run(&["correlate", "--format", "csv"], &lake, None);
    let there = run(&["correlate", "--format", "csv"], &lake, Some(&url));
    assert!(there.status.success(), "{}", String::from_utf8_lossy(&there.stderr));
    assert!(here.stdout.len() > 1000);
    assert_eq!(
        sorted_lines(&String::from_utf8_lossy(&there.stdout)),
        sorted_lines(&String::from_utf8_lossy(&here.stdout))
    );

    // Every hunt, file by file.
    let local = dir.path().join("local");
    let remote = dir.path().join("remote");
    let out = run(&["hunt", "run", "--all", "-o", local.to_str().unwrap()], &lake, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["hunt", "run", "--all", "-o", remote.to_str().unwrap()], &lake, Some(&url));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut compared = 0;
    for e in std::fs::read_dir(&local).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let a = std::fs::read_to_string(&path).unwrap();
        let b = std::fs::read_to_string(remote.join(&name))
            .unwrap_or_else(|e| panic!("{name:?} not written on the cluster: {e}"));
        assert_eq!(sorted_lines(&b), sorted_lines(&a), "{name:?} differs on the cluster");
        compared += 1;
    }
    assert!(compared > 60, "{compared} hunt files compared");

    // investigate: ingest and the report here, the correlation and the hunts on the cluster.
    let report = dir.path().join("case");
    let out = bin()
        .arg("investigate")
        .arg(root().join("sample-data"))
        .arg("-o")
        .arg(&report)
        .arg("-q")
        .args(["--cluster", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let correlation = std::fs::read_to_string(report.join("correlation.csv")).unwrap();
    let verdicts = |text: &str| -> Vec<String> {
        sorted_lines(text).into_iter().map(|l| l.split(',').take(6).collect::<Vec<_>>().join(",")).collect()
    };
    let here = run(&["correlate", "--format", "csv"], &lake, None);
    assert_eq!(verdicts(&correlation), verdicts(&String::from_utf8_lossy(&here.stdout)));
    assert!(std::fs::read_to_string(report.join("report.html")).unwrap().contains("Flagged firewall changes"));

    // What reads this machine's files says so.
    let out = run(&["sql", "SELECT * FROM search('ConsoleLogin')"], &lake, Some(&url));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("search() cannot run on a cluster (--cluster)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_cluster_that_is_not_there_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("ingest")
        .arg("-q")
        .arg("--lake")
        .arg(dir.path())
        .arg(root().join("sample-data/AWSLogs/111111111111"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let port = free_port();
    let out = run(&["sql", "SELECT 1"], dir.path(), Some(&format!("df://localhost:{port}")));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("localhost:{port}")) && err.lines().count() == 1, "{err}");
    let out = run(&["sql", "SELECT 1"], dir.path(), Some("localhost:50050"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give the scheduler as df://HOST:PORT"));
}
