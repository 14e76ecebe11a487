//! `trailflow sql` formats, export round trips and the shell, driven through the binary.

mod common;

use common::bin;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn lake_with_sample() -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let out = bin().args(["ingest", "--quiet", "--lake"]).arg(lake.path()).arg(sample).output().unwrap();
    assert!(out.status.success());
    lake
}

fn sql(lake: &Path, args: &[&str]) -> std::process::Output {
    bin().args(["sql", "--lake"]).arg(lake).args(args).output().unwrap()
}

const Q: &str = "SELECT event_id, event_time, event_name, source_ip, read_only FROM cloudtrail WHERE event_source = \
    'ec2.amazonaws.com' ORDER BY event_id";

#[test]
fn exports_hold_exactly_the_query_rows() {
    let lake = lake_with_sample();
    let dir = tempfile::tempdir().unwrap();
    // The number of rows, and the ids, straight from the table format's row count and NDJSON.
    let nd = sql(lake.path(), &["--format", "ndjson", Q]);
    assert!(nd.status.success());
    let ids: Vec<String> = String::from_utf8_lossy(&nd.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() > 500, "{}", ids.len());

    // CSV file, format from the extension.
    let csv_path = dir.path().join("out.csv");
    assert!(sql(lake.path(), &["-o", csv_path.to_str().unwrap(), Q]).status.success());
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "event_id,event_time,event_name,source_ip,read_only");
    let csv_ids: Vec<String> = lines.map(|l| l.split(',').next().unwrap().to_string()).collect();
    assert_eq!(csv_ids, ids);

    // Parquet file, read back through trailflow's own engine as an external file.
    let pq = dir.path().join("out.parquet");
    assert!(sql(lake.path(), &["-o", pq.to_str().unwrap(), Q]).status.success());
    let file = std::fs::File::open(&pq).unwrap();
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut pq_ids = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = datafusion::arrow::array::AsArray::as_string::<i32>(b.column(0));
        pq_ids.extend(col.iter().map(|v| v.unwrap().to_string()));
    }
    assert_eq!(pq_ids, ids);

    // JSON array.
    let js = sql(lake.path(), &["--format", "json", Q]);
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), ids.len());

    // Empty results are valid in every format.
    let none = "SELECT event_id FROM cloudtrail WHERE false";
    assert_eq!(String::from_utf8_lossy(&sql(lake.path(), &["--format", "json", none]).stdout).trim(), "[]");
    assert_eq!(String::from_utf8_lossy(&sql(lake.path(), &["--format", "table", none]).stdout).trim(), "0 rows");
}

#[test]
fn values_are_whole_off_the_screen_and_cut_only_as_asked() {
    let lake = lake_with_sample();
    let q = "SELECT raw FROM cloudtrail ORDER BY event_id LIMIT 1";
    let whole = sql(lake.path(), &["--format", "csv", q]).stdout;
    let raw = csv::Reader::from_reader(&whole[..]).records().next().unwrap().unwrap()[0].to_string();
    assert!(raw.chars().count() > 500);
    // A pipe is not a screen: the table holds the whole value.
    let table = String::from_utf8_lossy(&sql(lake.path(), &[q]).stdout).to_string();
    assert!(table.contains(&raw) && !table.contains('…'), "{table}");
    // So does a text file.
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("out.txt");
    assert!(sql(lake.path(), &["-o", txt.to_str().unwrap(), q]).status.success());
    assert!(std::fs::read_to_string(&txt).unwrap().contains(&raw));
    // Cut where asked, with a marker and a note saying how to see it whole.
    let cut = String::from_utf8_lossy(&sql(lake.path(), &["--maxwidth", "60", q]).stdout).to_string();
    assert!(cut.contains('…') && cut.lines().all(|l| l.chars().count() < 100), "{cut}");
    assert!(cut.contains("--maxwidth 0"), "{cut}");
    // The line format never cuts.
    let line =
        String::from_utf8_lossy(&sql(lake.path(), &["--format", "line", "--maxwidth", "60", q]).stdout).to_string();
    assert!(line.contains(&raw), "{line}");
}

#[test]
fn sql_from_a_file() {
    let lake = lake_with_sample();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("q.sql");
    std::fs::write(&f, "-- how many accepted flows\nSELECT count(*) AS n\nFROM flow_logs\nWHERE action = 'ACCEPT'\n")
        .unwrap();
    let out = sql(lake.path(), &["--format", "csv", "-f", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n: i64 = String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().parse().unwrap();
    assert!(n > 10_000);
}

/// `trailflow shell` on a lake, given these lines on its input.
fn shell(lake: &Path, input: &[u8]) -> std::process::Output {
    let mut child = bin()
        .args(["shell", "--lake"])
        .arg(lake)
        .env("HOME", lake)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn shell_lists_tables_shows_schemas_and_runs_multiline_sql() {
    let lake = lake_with_sample();
    let out = shell(
        lake.path(),
        b"\\d\n.schema flow_logs\n\\format csv\nSELECT count(*) AS n\nFROM cloudtrail\nWHERE \
        event_name = 'DeleteNetworkAclEntry';\nSELECT nope FROM nowhere;\nSELECT 41 + 1 AS answer;\n\\q\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(text.contains("ingested_files"), "{text}");
    assert!(text.contains("interface_id"), "{text}");
    assert!(text.contains("n\n2\n"), "{text}");
    assert!(text.contains("answer\n42\n"), "{text}");
    assert!(err.contains("error:") && err.contains("nowhere"), "{err}");
}

#[test]
fn datafusion_settings_from_the_environment() {
    let lake = lake_with_sample();
    // A valid setting changes nothing in the answer.
    let out = bin()
        .env("DATAFUSION_EXECUTION_BATCH_SIZE", "1024")
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake.path())
        .arg("SELECT count(*) AS n FROM flow_logs")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A value that does not parse is one line naming the variable, and exit status 2 (a usage error).
    let out = bin()
        .env("DATAFUSION_EXECUTION_BATCH_SIZE", "lots")
        .args(["sql", "--lake"])
        .arg(lake.path())
        .arg("SELECT 1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("DATAFUSION_EXECUTION_BATCH_SIZE") || err.contains("batch_size"), "{err}");
}

#[test]
fn memory_limit_from_the_environment() {
    let lake = lake_with_sample();
    // A small pool still answers: the aggregation spills instead of failing.
    let q = "SELECT srcaddr, dstaddr, count(*) AS n FROM flow_logs GROUP BY srcaddr, dstaddr ORDER BY n DESC, \
        srcaddr, dstaddr LIMIT 3";
    let run = |limit: Option<&str>| {
        let mut c = bin();
        if let Some(l) = limit {
            c.env("TRAILFLOW_MEMORY_LIMIT", l);
        }
        c.args(["sql", "--format", "csv", "--lake"]).arg(lake.path()).arg(q).output().unwrap()
    };
    let free = run(None);
    let small = run(Some("64M"));
    assert!(free.status.success() && small.status.success(), "{}", String::from_utf8_lossy(&small.stderr));
    assert_eq!(free.stdout, small.stdout);
    let bad = run(Some("lots"));
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("TRAILFLOW_MEMORY_LIMIT") && err.trim().lines().count() == 1, "{err}");
}

#[test]
fn mistakes_at_the_terminal_are_named_with_the_nearest_right_word() {
    // A mistyped hunt: one line, exit 2 (a usage error), the hunt meant.
    for args in [&["hunt", "show", "trail_tamper"][..], &["hunt", "run", "root_activty"][..]] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("did you mean"), "{err}");
    }
    // An unknown shell command is an error; the statement after it still runs on its own.
    let lake = lake_with_sample();
    let out = shell(lake.path(), b"\\tables\nSELECT 41 + 1 AS answer;\n\\q\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown command \\tables; did you mean .tables?"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
}

#[test]
fn hunt_show_prints_the_header_and_the_sql() {
    let out = bin().args(["hunt", "show", "failed_console_logins"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("failed_console_logins (high): Bursts of failed console sign-ins"), "{text}");
    assert!(text.contains("ATT&CK: T1110 (renumbered: T1110)"));
    assert!(text.contains("param: min_failures int (default 3)"));
    assert!(text.contains("WITH failures AS ("), "{text}");
    assert!(!text.contains("-- name:"), "the header is said once, not repeated as comments");
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for verb in ["investigate", "correlate", "acl", "hunt", "compact"] {
            assert!(text.contains(verb), "{shell} completion lacks {verb}");
        }
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn wide_results_fit_the_screen() {
    let lake = lake_with_sample();
    // A result wider than an 80-column screen is shown a row at a time, and says so.
    let out = bin()
        .args(["sql", "--lake"])
        .arg(lake.path())
        .arg("SELECT * FROM nacl_changes ORDER BY event_time LIMIT 2")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("-[ row 1 ]"), "{text}");
    assert!(text.lines().filter(|l| !l.starts_with("2 rows")).all(|l| !l.starts_with('+')), "no table lines");
    assert!(text.contains("event_name") && text.contains("| CreateNetworkAclEntry"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("2 rows (shown a row at a time: the table is wider than the screen; --format table keeps it)"),
        "{text}"
    );
    // A narrow one stays a table; --format table keeps a wide one a table.
    let narrow =
        bin().args(["sql", "--lake"]).arg(lake.path()).arg("SELECT 1 AS a").env("COLUMNS", "80").output().unwrap();
    assert!(String::from_utf8_lossy(&narrow.stdout).starts_with('+'));
    let forced = bin()
        .args(["sql", "--format", "table", "--lake"])
        .arg(lake.path())
        .arg("SELECT * FROM nacl_changes LIMIT 1")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&forced.stdout).starts_with('+'));
    // --maxrows: the rows shown, and how many there were; --format line (vertical) always.
    let few = bin()
        .args(["sql", "--maxrows", "3", "--lake"])
        .arg(lake.path())
        .arg("SELECT event_id FROM cloudtrail")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&few.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("| ") && !l.contains("event_id")).count(), 3, "{text}");
    assert!(text.contains("(3 shown; --maxrows 0 shows all)"), "{text}");
    let line = bin()
        .args(["sql", "--format", "vertical", "--lake"])
        .arg(lake.path())
        .arg("SELECT 1 AS a, 'x' AS b")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&line.stdout), "-[ row 1 ]--------\na | 1\nb | x\n1 row\n");
    // A file gets every row, whatever the screen.
    let file = lake.path().join("all.txt");
    let out = bin()
        .args(["sql", "--maxrows", "3", "-o"])
        .arg(&file)
        .arg("--lake")
        .arg(lake.path())
        .arg("SELECT event_id FROM cloudtrail LIMIT 10")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&file).unwrap().trim_end().ends_with("10 rows"));
    // A mistyped table is named with the one meant.
    let out = bin().args(["sql", "--lake"]).arg(lake.path()).arg("SELECT * FROM cloudtrial").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no table cloudtrial; did you mean cloudtrail?"));
    // And a mistyped column, in one short line rather than the list of every column.
    let out = bin().args(["sql", "--lake"]).arg(lake.path()).arg("SELECT evnt_name FROM cloudtrail").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No field named evnt_name. Did you mean 'cloudtrail.event_name'?")
            && !err.contains("Valid fields"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn timelines_of_an_address_a_key_and_an_actor_across_both_sources() {
    let lake = lake_with_sample();
    let run = |args: &[&str]| bin().arg("timeline").args(args).arg("--lake").arg(lake.path()).output().unwrap();
    // The deny-listed scanner: rejected flows before the deny rule was deleted, accepted after.
    let out = run(&["--ip", "45.137.21.9", "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert!(lines.iter().all(|l| l.contains(",flow_logs,")), "the scanner made no CloudTrail call");
    let first_accept = lines.iter().position(|l| l.contains("Flow start,ACCEPT")).unwrap();
    assert!(lines[..first_accept].iter().all(|l| l.contains("Flow start,REJECT")));
    assert!(lines[first_accept].starts_with("2026-03-11T0"), "{}", lines[first_accept]);
    let times: Vec<&str> = lines.iter().map(|l| &l[..20]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // The attacker's address: its CloudTrail calls and (none) flows, merged in time order.
    let out = run(&["--ip", "203.0.113.50", "--format", "csv"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("arn:aws:iam::111111111111:user/dev-temp CreateNetworkAclEntry from 203.0.113.50")
    );
    // The new key, in Timesketch's shape: one JSON object a line with message, datetime,
    // timestamp_desc and timestamp.
    let out = run(&["--key", "AKIA1111SVCBACKUP009", "--format", "jsonl"]);
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() > 30);
    for r in &rows {
        assert!(
            r["message"].is_string()
                && r["datetime"].is_string()
                && r["timestamp_desc"] == "CloudTrail call"
                && r["timestamp"].is_i64(),
            "{r}"
        );
    }
    assert_eq!(rows[0]["event_name"], "GetCallerIdentity");
    // A role's ARN finds its sessions.
    let out = run(&["--actor", "arn:aws:iam::111111111111:role/ops-automation", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("assumed-role/ops-automation/i-0a100000000bastion"));
    // A name finds its principals, and says which.
    let out = run(&["--actor", "dev-temp", "--format", "csv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let n = common::count(lake.path(), "SELECT * FROM cloudtrail WHERE user_name = 'dev-temp'");
    assert!(err.contains(&format!("matched arn:aws:iam::111111111111:user/dev-temp ({n} events)")), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count() as i64, n + 1);
    let out = run(&["--actor", "ops-automation", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("assumed-role/ops-automation/i-0a100000000bastion"));
    let out = run(&["--actor", "nobody-at-all"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("matched no principal"));
    // The root's failed sign-ins: no errorCode, `{"ConsoleLogin": "Failure"}`. Failure in the
    // outcome and the message, in the CSV and in Timesketch's lines; the success after them not.
    let out = run(&["--actor", "arn:aws:iam::111111111111:root", "--format", "jsonl"]);
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let logins: Vec<&serde_json::Value> = rows.iter().filter(|r| r["event_name"] == "ConsoleLogin").collect();
    assert_eq!(logins.len(), 4, "{logins:?}");
    assert!(
        logins[..3].iter().all(|r| r["outcome"] == "Failure"
            && r["message"].as_str().unwrap().contains("(Failure: Failed authentication)"))
    );
    assert_eq!(logins[3]["outcome"], "Success");
    // The screen view: time, source, message.
    let out = run(&["--key", "AKIA1111SVCBACKUP009", "--maxrows", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| datetime") && text.contains("| message") && !text.contains("event_id"), "{text}");
    // One pivot, and a real address.
    for bad in [&[][..], &["--ip", "x.y"][..], &["--ip", "1.2.3.4", "--key", "AKIA"][..]] {
        assert_eq!(run(bad).status.code(), Some(2), "{bad:?}");
    }
    // search of an address says it covered CloudTrail only.
    let out = bin().args(["search", "203.0.113.50", "--format", "csv", "--lake"]).arg(lake.path()).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("search covers CloudTrail only; `trailflow timeline --ip 203.0.113.50`")
    );
}
