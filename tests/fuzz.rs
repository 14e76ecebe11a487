//! Fuzzing of every decoder, over mutated real files: byte flips, cuts, insertions of structural
//! characters, repeated and deleted spans, applied to the real corpus and the sample's inventory.
//! Each decoder must return (no panic, no hang), keep its invariants, and say why it rejected
//! what it rejected. The number of cases per decoder is `TRAILFLOW_FUZZ_CASES` (default 160), so
//! CI time stays bounded; raise it for a longer run.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use proptest::prelude::*;
use trailflow::decode::json_stream::{self, Bounds, Item};
use trailflow::ingest::file::decode_bytes;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> u32 {
    std::env::var("TRAILFLOW_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(160)
}

fn read(p: &str) -> Vec<u8> {
    std::fs::read(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Real files of each kind, to mutate.
fn seeds(kind: &str) -> Vec<(String, Vec<u8>)> {
    let names: &[&str] = match kind {
        "cloudtrail" => &[
            "tests/data/real/cloudtrail/stratus-red-team-detonation-logs/aws.persistence.iam-create-backdoor-role.json",
            "tests/data/real/cloudtrail/elastic-integrations/test-console-login-json.log",
            "tests/data/real/cloudtrail/trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json",
            "tests/data/real/cloudtrail/cloudgrep/cloudtrail.json",
            "tests/data/real/flowlogs/otel-collector-contrib/valid_vpc_flow_cw.json",
        ],
        "flow_logs" => &[
            "tests/data/real/flowlogs/awsdocs-vpc-user-guide/default_v2_examples.log",
            "tests/data/real/flowlogs/awsdocs-vpc-user-guide/custom_v5_traffic_path_flow_direction.log",
            "tests/data/real/flowlogs/elastic-integrations/test-tgw-samples.log",
            "tests/data/real/flowlogs/elastic-integrations/test-v8-samples.log",
        ],
        "inventory" => &[
            "sample-data/inventory/111111111111/us-east-1/describe-network-acls.json",
            "sample-data/inventory/111111111111/us-east-1/describe-network-interfaces.json",
            "sample-data/inventory/222222222222/eu-west-1/describe-subnets.json",
        ],
        _ => unreachable!(),
    };
    names.iter().map(|n| (Path::new(n).file_name().unwrap().to_string_lossy().to_string(), read(n))).collect()
}

/// One edit of a file.
#[derive(Debug, Clone)]
enum Edit {
    Flip(f64, u8),
    Insert(f64, Vec<u8>),
    Delete(f64, usize),
    Repeat(f64, usize),
    Cut(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    let structural =
        prop::sample::select(vec![b'{', b'}', b'[', b']', b'"', b',', b':', b'\\', b'\n', b' ', b'N', b'-', 0xff]);
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Edit::Flip(at, b)),
        (0.0..1.0f64, prop::collection::vec(structural, 1..4)).prop_map(|(at, b)| Edit::Insert(at, b)),
        (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Edit::Insert(at, b)),
        (0.0..1.0f64, 1..200usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, 1..400usize).prop_map(|(at, n)| Edit::Repeat(at, n)),
        (0.0..1.0f64).prop_map(Edit::Cut),
    ]
}

fn mutate(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let pos = |at: f64, len: usize| ((at * len as f64) as usize).min(len);
        match e {
            Edit::Flip(at, b) if !data.is_empty() => {
                let i = pos(*at, data.len() - 1);
                data[i] = *b;
            }
            Edit::Insert(at, bytes) => {
                let i = pos(*at, data.len());
                data.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(at, n) => {
                let i = pos(*at, data.len());
                let end = (i + n).min(data.len());
                data.drain(i..end);
            }
            Edit::Repeat(at, n) => {
                let i = pos(*at, data.len());
                let end = (i + n).min(data.len());
                let span = data[i..end].to_vec();
                data.splice(end..end, span);
            }
            Edit::Cut(at) => {
                let i = pos(*at, data.len());
                data.truncate(i);
            }
            Edit::Flip(..) => {}
        }
    }
    data
}

/// Decode bytes and check what every decoder promises, whatever the input.
fn check_decoder(name: &str, data: Vec<u8>) {
    let (res, batches) = decode_bytes(name, data);
    let rows: usize = batches.iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(rows as u64, res.rows, "rows sent and rows counted differ");
    for e in &res.errors {
        assert!(!e.reason.is_empty(), "an error without a reason");
    }
    for (table, b) in &batches {
        let time = match *table {
            "cloudtrail" => "event_time",
            "flow_logs" => "start_time",
            _ => continue,
        };
        // Flow rows leave out the columns their format lacks (`start` too); CloudTrail rows have a time.
        match b.column_by_name(time) {
            Some(t) => {
                let t = t.as_primitive::<TimestampMicrosecondType>();
                for i in 0..t.len() {
                    if t.is_valid(i) {
                        assert!(
                            trailflow::time::time_in_range(t.value(i)),
                            "{table}: a time outside 1970-2200 was stored"
                        );
                    }
                }
            }
            None => assert_eq!(*table, "flow_logs", "{table} rows without {time}"),
        }
        // The file's name may come as a dictionary (flow rows): compare its values.
        let files = datafusion::arrow::compute::cast(
            b.column_by_name("source_file").unwrap(),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let files = files.as_string::<i32>();
        assert!(files.iter().all(|f| f == Some(name)), "{table}: rows name another file");
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cloudtrail_decoder(seed in 0..5usize, edits in prop::collection::vec(edit(), 1..6)) {
        let (name, data) = seeds("cloudtrail").swap_remove(seed);
        check_decoder(&name, mutate(data, &edits));
    }

    #[test]
    fn flow_log_decoder(seed in 0..4usize, edits in prop::collection::vec(edit(), 1..6)) {
        let (name, data) = seeds("flow_logs").swap_remove(seed);
        check_decoder(&name, mutate(data, &edits));
    }

    #[test]
    fn inventory_decoder(seed in 0..3usize, edits in prop::collection::vec(edit(), 1..6)) {
        let (name, data) = seeds("inventory").swap_remove(seed);
        check_decoder(&name, mutate(data, &edits));
    }

    #[test]
    fn gzip_layer(seed in 0..5usize, edits in prop::collection::vec(edit(), 1..3)) {
        use std::io::Write;
        let (name, data) = seeds("cloudtrail").swap_remove(seed);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&data).unwrap();
        check_decoder(&format!("{name}.gz"), mutate(e.finish().unwrap(), &edits));
    }

    /// The splitter hands on only text that is in the input, and nothing twice.
    #[test]
    fn json_splitter(seed in 0..5usize, edits in prop::collection::vec(edit(), 0..6), record in 64..4096usize) {
        let (_, data) = seeds("cloudtrail").swap_remove(seed);
        let data = mutate(data, &edits);
        let mut reader = std::io::BufReader::with_capacity(97, &data[..]);
        let mut last_end = 0usize;
        let result = json_stream::split(&mut reader, Bounds { record, document: 4 * record }, &mut |item| {
            let text = match item {
                Item::Record { text, .. } | Item::Document { text, .. } => text,
                Item::Bad { reason, .. } => {
                    assert!(!reason.is_empty());
                    return;
                }
            };
            assert!(text.len() <= 4 * record, "an item over its bound was handed on");
            let at = memchr::memmem::find(&data[last_end..], text).map(|i| i + last_end);
            assert!(at.is_some(), "an item that is not in the input, in order: {:?}", String::from_utf8_lossy(text));
            last_end = at.unwrap() + text.len();
        });
        prop_assert!(result.is_ok());
    }
}

/// Archives, mutated: written to a file and ingested, which must end with a summary (exit 0 or
/// 3), never a crash.
#[test]
fn archive_walker() {
    let members: Vec<(String, Vec<u8>)> = seeds("cloudtrail").into_iter().chain(seeds("flow_logs")).collect();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_cksum();
        tar.append(&h, &data[..]).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in &members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, data).unwrap();
    }
    let zip = zip.finish().unwrap().into_inner();
    let runner_cases = (cases() / 4).max(8);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: runner_cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    runner
        .run(&(0..3usize, prop::collection::vec(edit(), 1..4)), |(which, edits)| {
            let (name, data) = match which {
                0 => ("m.tar", tar.clone()),
                1 => ("m.tar.gz", {
                    use std::io::Write;
                    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&tar).unwrap();
                    e.finish().unwrap()
                }),
                _ => ("m.zip", zip.clone()),
            };
            let input = dir.path().join(name);
            std::fs::write(&input, mutate(data, &edits)).unwrap();
            let lake = tempfile::tempdir().unwrap();
            let mut opts = trailflow::ingest::IngestOptions::new(lake.path(), vec![input]);
            opts.threads = Some(1);
            opts.index = false;
            let summary = trailflow::ingest::ingest(&opts);
            prop_assert!(summary.is_ok(), "{:?}", summary.err());
            Ok(())
        })
        .unwrap();
}
