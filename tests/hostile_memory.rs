//! Hostile inputs that used to take gigabytes: one long record, a whitespace bomb, zips nested a
//! thousand deep, inventory documents of hundreds of megabytes, zips of large zips nested eight
//! deep. Each is rejected with a reason or loaded while the rest of the run loads, and every
//! ingest stays within its memory budget (`TRAILFLOW_INGEST_MEMORY`, 1 GiB by default, the
//! program's fixed part included). One test, so that the peak of its children is its own.

mod common;

use std::io::Write;

use common::{bin, count, sql};

/// The peak resident memory of the children this process has waited for, in bytes.
fn children_peak() -> u64 {
    // SAFETY: rusage is plain integers, for which all zeros is a value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024
}

/// Write `head`, then `n` bytes of `fill`, then `tail`, gzip-compressed, to a file.
fn gz_bomb(path: &std::path::Path, head: &str, fill: u8, n: usize, tail: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    e.write_all(head.as_bytes()).unwrap();
    let chunk = vec![fill; 1 << 20];
    for _ in 0..n / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(tail.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn record(id: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{id}","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"{extra}}}"#
    )
}

#[test]
fn hostile_files_are_rejected_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One record with a 600 MB string (a 600 KB .json.gz), between two good ones.
    let open_long = r#"{"eventVersion":"1.08","eventID":"long","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":""#;
    gz_bomb(
        &d.join("long.json.gz"),
        &format!(r#"{{"Records":[{},{open_long}"#, record("before", "")),
        b'a',
        600 << 20,
        &format!(r#""}},{}]}}"#, record("after", "")),
    );
    // White space, 1 GB of it, inside a record and between records.
    gz_bomb(
        &d.join("space-in.json.gz"),
        &format!(r#"{{"Records":[{},{{"eventID":"ws","#, record("ws-before", "")),
        b' ',
        1 << 30,
        r#""eventTime":"x"}]}"#,
    );
    gz_bomb(
        &d.join("space-between.json.gz"),
        r#"{"Records":["#,
        b' ',
        1 << 30,
        &format!("{}]}}", record("ws-after", "")),
    );
    let lake = tempfile::tempdir().unwrap();
    let before = children_peak();
    let out = bin().args(["ingest", "--quiet", "--json", "--lake"]).arg(lake.path()).arg(d).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let peak = children_peak().max(before);
    let ids: Vec<String> = sql(lake.path(), "SELECT event_id FROM cloudtrail ORDER BY event_id")
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["after", "before", "ws-after", "ws-before"]);
    let errors = sql(lake.path(), "SELECT source_file, record, reason FROM ingest_errors ORDER BY source_file");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e["reason"].as_str().unwrap().contains("larger than")), "{errors:?}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files"), 3);
    assert!(peak < 1 << 30, "peak memory of the ingest: {} MB", peak >> 20);

    // Whole documents that used to be held and built as trees (2.7 GB for one of 250 MiB): a
    // `describe-network-interfaces` output of 260 MiB and an AWS Config snapshot of 100 MiB, read
    // resource by resource and kept on disk until the run's end; and a zip of zips eight deep,
    // each level a 64 MiB zip (every level used to be held at once).
    let big = tempfile::tempdir().unwrap();
    let b = big.path();
    let eni = |i: usize| {
        format!(
            r#"{{"NetworkInterfaceId":"eni-{i:017x}","SubnetId":"subnet-0a1b2c3d","VpcId":"vpc-0a1b2c3d","AvailabilityZone":"us-east-1a","OwnerId":"123456789012","PrivateIpAddress":"10.{}.{}.{}","Description":"{}","Status":"in-use"}}"#,
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255,
            "d".repeat(800)
        )
    };
    let write_gz = |path: std::path::PathBuf, head: &str, n: usize, item: &dyn Fn(usize) -> String, tail: &str| {
        let f = std::fs::File::create(path).unwrap();
        let mut e = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
        e.write_all(head.as_bytes()).unwrap();
        let mut bytes = 0;
        for i in 0..n {
            let text = item(i);
            bytes += text.len() + 6;
            e.write_all(if i == 0 { b"\n    " } else { b",\n    " }).unwrap();
            e.write_all(text.as_bytes()).unwrap();
        }
        e.write_all(tail.as_bytes()).unwrap();
        e.finish().unwrap();
        bytes
    };
    let n_eni = 260_000;
    let bytes =
        write_gz(b.join("describe-network-interfaces.json.gz"), r#"{"NetworkInterfaces": ["#, n_eni, &eni, "\n]}\n");
    assert!(bytes > 250 << 20, "{bytes}");
    let ci = |i: usize| {
        format!(
            r#"{{"configurationItemVersion":"1.3","configurationItemCaptureTime":"2024-05-0{}T10:00:00.000Z","configurationItemStatus":"OK","resourceType":"AWS::EC2::Subnet","resourceId":"subnet-{i:017x}","awsRegion":"us-east-1","awsAccountId":"123456789012","configuration":{{"subnetId":"subnet-{i:017x}","vpcId":"vpc-0a1b2c3d","cidrBlock":"10.0.0.0/24","note":"{}"}}}}"#,
            1 + i % 5,
            "c".repeat(800)
        )
    };
    let n_ci = 100_000;
    write_gz(
        b.join("config-snapshot.json.gz"),
        r#"{"fileVersion": "1.0", "configurationItems": ["#,
        n_ci,
        &ci,
        "\n]}\n",
    );
    // Zips of zips: the innermost holds a trail file and 64 MiB of padding, stored; each level
    // above stores the one below, and the outermost deflates it all to a small file.
    let zip = |members: Vec<(&str, Vec<u8>)>, method: zip::CompressionMethod| -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            z.start_file(name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
            z.write_all(&data).unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let trail = format!(r#"{{"Records":[{}]}}"#, record("nested-8", ""));
    let mut level =
        zip(vec![("trail.json", trail.into_bytes()), ("pad.bin", vec![0u8; 64 << 20])], zip::CompressionMethod::Stored);
    for depth in (2..8).rev() {
        level = zip(vec![(&format!("level{depth}.zip"), level)], zip::CompressionMethod::Stored);
    }
    let outer = zip(vec![("level1.zip", level)], zip::CompressionMethod::Deflated);
    assert!(outer.len() < 2 << 20, "{}", outer.len());
    std::fs::write(b.join("nested.zip"), outer).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let before = children_peak();
    let out = bin().args(["ingest", "--quiet", "--json", "--lake"]).arg(lake.path()).arg(b).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let peak = children_peak().max(before);
    eprintln!("peak of the children so far: {} MiB", peak >> 20);
    let kinds = sql(lake.path(), "SELECT kind, count(*) AS n FROM inventory GROUP BY kind ORDER BY kind");
    assert_eq!(
        kinds,
        vec![
            serde_json::json!({"kind": "network_interfaces", "n": n_eni}),
            serde_json::json!({"kind": "subnets", "n": n_ci})
        ]
    );
    // Every item whole, each Config item at its own capture time.
    assert_eq!(count(lake.path(), "SELECT * FROM inventory WHERE length(item) < 800"), 0);
    assert_eq!(count(lake.path(), "SELECT DISTINCT snapshot_time FROM inventory WHERE kind = 'subnets'"), 5);
    let nested = sql(lake.path(), "SELECT source_file FROM cloudtrail");
    assert_eq!(nested.len(), 1, "{nested:?}");
    assert!(nested[0]["source_file"].as_str().unwrap().contains("level7.zip!trail.json"), "{nested:?}");
    assert!(peak < 1 << 30, "peak memory of the ingest of large documents and nested zips: {} MB", peak >> 20);
}
