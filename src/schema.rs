//! The one place where tables, their columns and their Arrow schemas are named.
//!
//! Column names are a contract (`PRODUCT.md` §2): hunts, tests and users rely on them.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub const CLOUDTRAIL: &str = "cloudtrail";
pub const FLOW_LOGS: &str = "flow_logs";
pub const INVENTORY: &str = "inventory";
pub const INGEST_ERRORS: &str = "ingest_errors";
pub const INGESTED_FILES: &str = "ingested_files";
pub const EVENT_COPIES: &str = "event_copies";
pub const CLOUDTRAIL_DIGESTS: &str = "cloudtrail_digests";

/// Every table ingest writes, in the order `stats` lists them.
pub const TABLES: &[&str] =
    &[CLOUDTRAIL, FLOW_LOGS, INVENTORY, INGESTED_FILES, INGEST_ERRORS, EVENT_COPIES, CLOUDTRAIL_DIGESTS];

pub const NACL_CHANGES: &str = "nacl_changes";
pub const NETWORK_INTERFACES: &str = "network_interfaces";
pub const ACL_ASSOCIATIONS: &str = "acl_associations";
pub const NACL_ENTRIES: &str = "nacl_entries";
pub const NACL_RULE_SETS: &str = "nacl_rule_sets";
pub const SG_CHANGES: &str = "sg_changes";
pub const SG_RULES: &str = "sg_rules";
pub const INTERFACE_GROUPS: &str = "interface_groups";
pub const SG_CHANGE_SCOPE: &str = "sg_change_scope";

/// The tables a session derives from the stored ones when a query first reads one of them
/// (`correlate::table`). Their schemas and rows are declared here beside the stored tables'.
pub const DERIVED_TABLES: &[&str] = &[
    NACL_CHANGES,
    NETWORK_INTERFACES,
    ACL_ASSOCIATIONS,
    NACL_ENTRIES,
    NACL_RULE_SETS,
    SG_CHANGES,
    SG_RULES,
    INTERFACE_GROUPS,
    SG_CHANGE_SCOPE,
];

/// The Hive partition column every table is split by (a `YYYY-MM-DD` UTC date).
pub const PARTITION_COLUMN: &str = "dt";
/// Partition value for rows without a time (Hive's own spelling of NULL).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The timestamp type of every time column: microseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// `cloudtrail` columns. The JSON text columns hold the original JSON of that part of the record.
pub const CLOUDTRAIL_STRING_COLUMNS: &[&str] = &[
    "event_version",
    "event_source",
    "event_name",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "event_type",
    "event_category",
    "recipient_account_id",
    "request_id",
    "shared_event_id",
    "vpc_endpoint_id",
    "user_type",
    "user_arn",
    "user_name",
    "principal_id",
    "account_id",
    "access_key_id",
    "session_issuer_arn",
    "session_issuer_user_name",
    "invoked_by",
    "tls_version",
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "resources",
    "service_event_details",
    "raw",
    "source_file",
    // How the record reached the evidence: trail, event_history, cloudwatch_logs, eventbridge, export.
    "delivery",
];

pub static CLOUDTRAIL_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("event_id", DataType::Utf8, false), Field::new("event_time", ts_type(), false)];
    fields.extend(CLOUDTRAIL_STRING_COLUMNS.iter().map(|c| utf8(c)));
    fields.push(Field::new("read_only", DataType::Boolean, true));
    fields.push(Field::new("management_event", DataType::Boolean, true));
    fields.push(Field::new("mfa_authenticated", DataType::Boolean, true));
    fields.push(Field::new("source_record", DataType::Int64, true));
    Arc::new(Schema::new(fields))
});

/// How a flow log field is typed in the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowType {
    Str,
    Int32,
    Int64,
    /// Unix seconds in the log, a UTC timestamp in the lake.
    Time,
}

/// One VPC (or transit gateway) flow log field: its AWS name, its column, its type, the version
/// that introduced it (0 for transit gateway fields).
#[derive(Debug, Clone, Copy)]
pub struct FlowField {
    pub aws: &'static str,
    pub column: &'static str,
    pub ty: FlowType,
    pub version: u8,
}

const fn ff(aws: &'static str, column: &'static str, ty: FlowType, version: u8) -> FlowField {
    FlowField { aws, column, ty, version }
}

use FlowType::*;

/// Every flow log field AWS documents, in the documented order. The first 14 are the default
/// (version 2) format, in the order a header-less default record carries them.
pub const FLOW_FIELDS: &[FlowField] = &[
    ff("version", "version", Int32, 2),
    ff("account-id", "account_id", Str, 2),
    ff("interface-id", "interface_id", Str, 2),
    ff("srcaddr", "srcaddr", Str, 2),
    ff("dstaddr", "dstaddr", Str, 2),
    ff("srcport", "srcport", Int32, 2),
    ff("dstport", "dstport", Int32, 2),
    ff("protocol", "protocol", Int32, 2),
    ff("packets", "packets", Int64, 2),
    ff("bytes", "bytes", Int64, 2),
    ff("start", "start_time", Time, 2),
    ff("end", "end_time", Time, 2),
    ff("action", "action", Str, 2),
    ff("log-status", "log_status", Str, 2),
    ff("vpc-id", "vpc_id", Str, 3),
    ff("subnet-id", "subnet_id", Str, 3),
    ff("instance-id", "instance_id", Str, 3),
    ff("tcp-flags", "tcp_flags", Int32, 3),
    ff("type", "type", Str, 3),
    ff("pkt-srcaddr", "pkt_srcaddr", Str, 3),
    ff("pkt-dstaddr", "pkt_dstaddr", Str, 3),
    ff("region", "region", Str, 4),
    ff("az-id", "az_id", Str, 4),
    ff("sublocation-type", "sublocation_type", Str, 4),
    ff("sublocation-id", "sublocation_id", Str, 4),
    ff("pkt-src-aws-service", "pkt_src_aws_service", Str, 5),
    ff("pkt-dst-aws-service", "pkt_dst_aws_service", Str, 5),
    ff("flow-direction", "flow_direction", Str, 5),
    ff("traffic-path", "traffic_path", Int32, 5),
    ff("ecs-cluster-arn", "ecs_cluster_arn", Str, 7),
    ff("ecs-cluster-name", "ecs_cluster_name", Str, 7),
    ff("ecs-container-instance-arn", "ecs_container_instance_arn", Str, 7),
    ff("ecs-container-instance-id", "ecs_container_instance_id", Str, 7),
    ff("ecs-container-id", "ecs_container_id", Str, 7),
    ff("ecs-second-container-id", "ecs_second_container_id", Str, 7),
    ff("ecs-service-name", "ecs_service_name", Str, 7),
    ff("ecs-task-definition-arn", "ecs_task_definition_arn", Str, 7),
    ff("ecs-task-arn", "ecs_task_arn", Str, 7),
    ff("ecs-task-id", "ecs_task_id", Str, 7),
    ff("reject-reason", "reject_reason", Str, 8),
    ff("resource-id", "resource_id", Str, 9),
    ff("encryption-status", "encryption_status", Str, 10),
    // Transit gateway flow logs share the file layout and many fields.
    ff("resource-type", "resource_type", Str, 0),
    ff("tgw-id", "tgw_id", Str, 0),
    ff("tgw-attachment-id", "tgw_attachment_id", Str, 0),
    ff("tgw-src-vpc-account-id", "tgw_src_vpc_account_id", Str, 0),
    ff("tgw-dst-vpc-account-id", "tgw_dst_vpc_account_id", Str, 0),
    ff("tgw-src-vpc-id", "tgw_src_vpc_id", Str, 0),
    ff("tgw-dst-vpc-id", "tgw_dst_vpc_id", Str, 0),
    ff("tgw-src-subnet-id", "tgw_src_subnet_id", Str, 0),
    ff("tgw-dst-subnet-id", "tgw_dst_subnet_id", Str, 0),
    ff("tgw-src-eni", "tgw_src_eni", Str, 0),
    ff("tgw-dst-eni", "tgw_dst_eni", Str, 0),
    ff("tgw-src-az-id", "tgw_src_az_id", Str, 0),
    ff("tgw-dst-az-id", "tgw_dst_az_id", Str, 0),
    ff("tgw-pair-attachment-id", "tgw_pair_attachment_id", Str, 0),
    ff("packets-lost-no-route", "packets_lost_no_route", Int64, 0),
    ff("packets-lost-blackhole", "packets_lost_blackhole", Int64, 0),
    ff("packets-lost-mtu-exceeded", "packets_lost_mtu_exceeded", Int64, 0),
    ff("packets-lost-ttl-expired", "packets_lost_ttl_expired", Int64, 0),
];

/// Number of fields in the default (version 2) format.
pub const DEFAULT_FORMAT_FIELDS: usize = 14;

/// Find a flow field by its AWS name (`dstport`) or its column name (`dst_port` is not one).
pub fn flow_field(name: &str) -> Option<usize> {
    FLOW_FIELDS.iter().position(|f| f.aws == name || f.column == name)
}

fn flow_arrow_type(ty: FlowType) -> DataType {
    match ty {
        Str => DataType::Utf8,
        Int32 => DataType::Int32,
        Int64 => DataType::Int64,
        Time => ts_type(),
    }
}

pub static FLOW_LOGS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> =
        FLOW_FIELDS.iter().map(|f| Field::new(f.column, flow_arrow_type(f.ty), true)).collect();
    fields.push(utf8("extra_fields"));
    fields.push(Field::new("source_file", DataType::Utf8, false));
    fields.push(Field::new("source_line", DataType::Int64, false));
    Arc::new(Schema::new(fields))
});

/// `inventory.snapshot_time_basis` of the items AWS Config captured (each at its own time).
pub const CONFIG_BASIS: &str = "AWS Config configurationItemCaptureTime";

pub static INVENTORY_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("snapshot_time", ts_type(), false),
        Field::new("snapshot_time_basis", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        utf8("resource_id"),
        utf8("account_id"),
        utf8("region"),
        utf8("vpc_id"),
        Field::new("item", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
    ]))
});

pub static INGEST_ERRORS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("logged_at", ts_type(), false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        utf8("member"),
        Field::new("line", DataType::Int64, true),
        Field::new("record", DataType::Int64, true),
        Field::new("reason", DataType::Utf8, false),
        utf8("excerpt"),
        Field::new("source_file", DataType::Utf8, false),
    ]))
});

pub static INGESTED_FILES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("ingested_at", ts_type(), false),
        Field::new("file_id", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        utf8("format"),
        Field::new("size_bytes", DataType::Int64, false),
        Field::new("records", DataType::Int64, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("duplicates", DataType::Int64, false),
        Field::new("errors", DataType::Int64, false),
        Field::new("first_time", ts_type(), true),
        Field::new("last_time", ts_type(), true),
        utf8("account_id"),
        utf8("region"),
        Field::new("status", DataType::Utf8, false),
        // For a copy (status `duplicate`): the file whose identical content was loaded.
        utf8("duplicate_of"),
        // SHA-256 of the file's bytes, hex (NULL in lakes written before it was recorded).
        utf8("sha256"),
        // SHA-256 of a CloudTrail log file's uncompressed content (what digests record), hex.
        utf8("content_sha256"),
    ]))
});

/// One row per CloudTrail record not stored because the same event already is (another file,
/// another trail, an earlier run): where this copy was.
pub static EVENT_COPIES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", ts_type(), false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_record", DataType::Int64, true),
    ]))
});

/// `nacl_changes`: one row per NACL event, with the ACL's rules around it and its risk.
pub static NACL_CHANGES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", ts_type(), false),
        Field::new("event_name", DataType::Utf8, false),
        utf8("account_id"),
        utf8("aws_region"),
        utf8("network_acl_id"),
        int("rule_number"),
        Field::new("egress", DataType::Boolean, true),
        utf8("rule_action"),
        int("protocol"),
        utf8("cidr_block"),
        utf8("ipv6_cidr_block"),
        int("port_from"),
        int("port_to"),
        int("icmp_type"),
        int("icmp_code"),
        utf8("vpc_id"),
        utf8("association_id"),
        utf8("subnet_id"),
        utf8("actor_arn"),
        utf8("access_key_id"),
        utf8("source_ip"),
        utf8("user_agent"),
        utf8("error_code"),
        Field::new("succeeded", DataType::Boolean, false),
        Field::new("risk_score", DataType::Int64, false),
        utf8("risk_reasons"),
        utf8("rules_before"),
        utf8("rules_after"),
        // What the change did to the ACL's policy: JSON regions and a line of words each.
        utf8("opened"),
        utf8("closed"),
        utf8("opened_text"),
        utf8("closed_text"),
        // What the scope of the change (subnets, interfaces) and the rules it is judged against
        // stand on: inventory, config, cloudtrail, flow_records, inferred or unknown; and why.
        Field::new("topology_basis", DataType::Utf8, false),
        utf8("topology_reason"),
    ]))
});

/// The last columns of every table of facts over time: where the fact was learned and the
/// interval it held (NULL: since or until the edge of the evidence).
fn learned_over(mut fields: Vec<Field>) -> SchemaRef {
    fields.extend([
        Field::new("learned_from", DataType::Utf8, false),
        Field::new("valid_from", ts_type(), true),
        Field::new("valid_to", ts_type(), true),
    ]);
    Arc::new(Schema::new(fields))
}

/// `network_interfaces`: which interface sat in which subnet, learned from where, over what interval.
pub static NETWORK_INTERFACES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("interface_id", DataType::Utf8, false)];
    // One row per address the interface held over an interval: `address` and its `address_type`
    // (`private_ipv4` the primary, `secondary_ipv4`, `public_ipv4`, `ipv6`); `private_ip` is the
    // primary private IPv4 address on every row of the interface. `basis` names the kind of
    // source (`inventory`, `config`, `cloudtrail`, `flow_records`, `inferred`).
    fields.extend(
        [
            "subnet_id",
            "vpc_id",
            "private_ip",
            "instance_id",
            "account_id",
            "region",
            "address",
            "address_type",
            "basis",
        ]
        .map(utf8),
    );
    learned_over(fields)
});

/// `acl_associations`: which ACL governed which subnet over what interval.
pub static ACL_ASSOCIATIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    learned_over(["subnet_id", "network_acl_id", "association_id", "vpc_id", "basis"].map(utf8).to_vec())
});

/// `nacl_entries`: every entry of every ACL over the interval it held.
pub static NACL_ENTRIES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    learned_over(vec![
        Field::new("network_acl_id", DataType::Utf8, false),
        int("rule_number"),
        Field::new("egress", DataType::Boolean, true),
        utf8("rule_action"),
        int("protocol"),
        utf8("cidr_block"),
        utf8("ipv6_cidr_block"),
        int("port_from"),
        int("port_to"),
        int("icmp_type"),
        int("icmp_code"),
    ])
});

/// `nacl_rule_sets`: every ACL's whole rule set (JSON, as `acl_allows` / `acl_decision` read it)
/// over the interval it held.
pub static NACL_RULE_SETS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    learned_over(vec![
        Field::new("network_acl_id", DataType::Utf8, false),
        Field::new("rules", DataType::Utf8, false),
        // Entries the evidence shows existed without showing what they were.
        Field::new("unknown_rules", DataType::Int64, false),
    ])
});

/// `sg_changes`: one row per security-group call (rules changed, a group created or deleted, an
/// interface or instance moved to other groups), with the rules around it and its risk.
pub static SG_CHANGES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", ts_type(), false),
        Field::new("event_name", DataType::Utf8, false),
        utf8("account_id"),
        utf8("aws_region"),
        // The group whose rules changed; for a move, the interface (and instance) moved and the
        // groups it held before and after (comma-separated).
        utf8("group_id"),
        utf8("vpc_id"),
        utf8("interface_id"),
        utf8("instance_id"),
        utf8("groups_before"),
        utf8("groups_after"),
        // The first rule the call names, as columns; every rule it names in `rules_requested`.
        Field::new("egress", DataType::Boolean, true),
        int("protocol"),
        int("port_from"),
        int("port_to"),
        utf8("cidr_block"),
        utf8("ipv6_cidr_block"),
        utf8("referenced_group_id"),
        utf8("prefix_list_id"),
        utf8("rule_ids"),
        utf8("rules_requested"),
        utf8("actor_arn"),
        utf8("access_key_id"),
        utf8("source_ip"),
        utf8("user_agent"),
        utf8("error_code"),
        Field::new("succeeded", DataType::Boolean, false),
        Field::new("risk_score", DataType::Int64, false),
        utf8("risk_reasons"),
        utf8("rules_before"),
        utf8("rules_after"),
        utf8("opened"),
        utf8("closed"),
        utf8("opened_text"),
        utf8("closed_text"),
        Field::new("interfaces_in_scope", DataType::Int64, false),
        Field::new("topology_basis", DataType::Utf8, false),
        utf8("topology_reason"),
    ]))
});

/// One row of `sg_changes`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SgChangeRow<'a> {
    pub event_id: &'a str,
    pub event_time: i64,
    pub event_name: &'a str,
    pub account_id: Option<&'a str>,
    pub aws_region: Option<&'a str>,
    pub group_id: Option<&'a str>,
    pub vpc_id: Option<&'a str>,
    pub interface_id: Option<&'a str>,
    pub instance_id: Option<&'a str>,
    pub groups_before: Option<String>,
    pub groups_after: Option<String>,
    pub egress: Option<bool>,
    pub protocol: Option<i64>,
    pub port_from: Option<i64>,
    pub port_to: Option<i64>,
    pub cidr_block: Option<&'a str>,
    pub ipv6_cidr_block: Option<&'a str>,
    pub referenced_group_id: Option<&'a str>,
    pub prefix_list_id: Option<&'a str>,
    pub rule_ids: Option<String>,
    pub rules_requested: Option<String>,
    pub actor_arn: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub succeeded: bool,
    pub risk_score: i64,
    pub risk_reasons: String,
    pub rules_before: Option<String>,
    pub rules_after: Option<String>,
    pub opened: Option<String>,
    pub closed: Option<String>,
    pub opened_text: Option<String>,
    pub closed_text: Option<String>,
    pub interfaces_in_scope: i64,
    pub topology_basis: &'a str,
    pub topology_reason: Option<&'a str>,
}

/// `sg_rules`: every rule of every security group over the interval it held.
pub static SG_RULES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    learned_over(vec![
        Field::new("group_id", DataType::Utf8, false),
        utf8("vpc_id"),
        utf8("rule_id"),
        Field::new("egress", DataType::Boolean, false),
        Field::new("protocol", DataType::Int64, false),
        int("port_from"),
        int("port_to"),
        utf8("cidr_block"),
        utf8("ipv6_cidr_block"),
        utf8("referenced_group_id"),
        utf8("prefix_list_id"),
        // False while rules the evidence does not show may also exist in the group.
        Field::new("complete", DataType::Boolean, false),
    ])
});

/// One row of `sg_rules`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SgRuleRow<'a> {
    pub group_id: &'a str,
    pub vpc_id: Option<&'a str>,
    pub rule_id: Option<&'a str>,
    pub egress: bool,
    pub protocol: i64,
    pub port_from: Option<i64>,
    pub port_to: Option<i64>,
    pub cidr_block: Option<&'a str>,
    pub ipv6_cidr_block: Option<&'a str>,
    pub referenced_group_id: Option<&'a str>,
    pub prefix_list_id: Option<&'a str>,
    pub complete: bool,
    pub learned_from: &'a str,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// `interface_groups`: which security groups an interface held over what interval.
pub static INTERFACE_GROUPS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    learned_over(vec![
        Field::new("interface_id", DataType::Utf8, false),
        Field::new("group_id", DataType::Utf8, false),
        Field::new("basis", DataType::Utf8, false),
    ])
});

/// One row of `interface_groups`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InterfaceGroupRow {
    pub interface_id: String,
    pub group_id: String,
    pub basis: &'static str,
    pub learned_from: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// `sg_change_scope`: the interfaces each security-group change reached, each address they held
/// at the time, and the rules of all the interface's groups (JSON entries, as `acl_allows` reads
/// them) just before and just after the change.
pub static SG_CHANGE_SCOPE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("interface_id", DataType::Utf8, false),
        utf8("address"),
        // `member`, `moved` or `inferred` (nothing shows the group's members).
        Field::new("scope", DataType::Utf8, false),
        Field::new("rules_before", DataType::Utf8, false),
        Field::new("rules_after", DataType::Utf8, false),
        // What the change opened, as bounds every newly allowed packet lies within: whether it
        // opened anything, its one protocol (NULL: several, or all) and the span of its ports
        // (NULL: not only TCP/UDP ports).
        Field::new("opens", DataType::Boolean, false),
        Field::new("opened_protocol", DataType::Int64, true),
        Field::new("opened_port_from", DataType::Int64, true),
        Field::new("opened_port_to", DataType::Int64, true),
    ]))
});

/// One row of `sg_change_scope`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SgChangeScopeRow<'a> {
    pub event_id: &'a str,
    pub interface_id: &'a str,
    pub address: Option<String>,
    pub scope: &'a str,
    pub rules_before: String,
    pub rules_after: String,
    pub opens: bool,
    pub opened_protocol: Option<i64>,
    pub opened_port_from: Option<i64>,
    pub opened_port_to: Option<i64>,
}

/// One row of `nacl_rule_sets`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NaclRuleSetRow<'a> {
    pub network_acl_id: &'a str,
    pub rules: String,
    pub unknown_rules: i64,
    pub learned_from: &'a str,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// One row of `nacl_changes`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NaclChangeRow<'a> {
    pub event_id: &'a str,
    /// Microseconds, UTC.
    pub event_time: i64,
    pub event_name: &'a str,
    pub account_id: Option<&'a str>,
    pub aws_region: Option<&'a str>,
    pub network_acl_id: Option<&'a str>,
    pub rule_number: Option<i64>,
    pub egress: Option<bool>,
    pub rule_action: Option<&'a str>,
    pub protocol: Option<i64>,
    pub cidr_block: Option<&'a str>,
    pub ipv6_cidr_block: Option<&'a str>,
    pub port_from: Option<i64>,
    pub port_to: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    pub vpc_id: Option<&'a str>,
    pub association_id: Option<&'a str>,
    pub subnet_id: Option<&'a str>,
    pub actor_arn: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub succeeded: bool,
    pub risk_score: i64,
    /// Comma-separated reason names.
    pub risk_reasons: String,
    /// The ACL's entries as JSON.
    pub rules_before: Option<String>,
    pub rules_after: Option<String>,
    /// JSON arrays of regions (`nacl::policy::Region`), NULL when the rules after are unknown.
    pub opened: Option<String>,
    pub closed: Option<String>,
    /// The regions in words, NULL when there are none.
    pub opened_text: Option<String>,
    pub closed_text: Option<String>,
    pub topology_basis: &'a str,
    pub topology_reason: Option<String>,
}

/// One row of `network_interfaces`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NetworkInterfaceRow {
    pub interface_id: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub private_ip: Option<String>,
    pub instance_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub address: Option<String>,
    pub address_type: Option<String>,
    pub basis: String,
    pub learned_from: String,
    /// Microseconds, UTC; `None`: since the edge of the evidence.
    pub valid_from: Option<i64>,
    /// Microseconds, UTC; `None`: until the edge of the evidence.
    pub valid_to: Option<i64>,
}

/// One row of `acl_associations`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AclAssociationRow {
    pub subnet_id: Option<String>,
    pub network_acl_id: Option<String>,
    pub association_id: Option<String>,
    pub vpc_id: Option<String>,
    pub basis: String,
    pub learned_from: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// One row of `nacl_entries`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NaclEntryRow<'a> {
    pub network_acl_id: &'a str,
    pub rule_number: Option<i64>,
    pub egress: Option<bool>,
    pub rule_action: Option<&'a str>,
    pub protocol: Option<i64>,
    pub cidr_block: Option<&'a str>,
    pub ipv6_cidr_block: Option<&'a str>,
    pub port_from: Option<i64>,
    pub port_to: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    pub learned_from: &'a str,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// `cloudtrail_digests`: one row per entry of each CloudTrail digest file in the evidence.
pub static CLOUDTRAIL_DIGESTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("digest_file", DataType::Utf8, false),
        utf8("digest_s3_bucket"),
        utf8("digest_s3_object"),
        // digestEndTime as written, the key's fingerprint, and previousDigestSignature: what the
        // digest's signature is checked with.
        utf8("digest_end_text"),
        utf8("public_key_fingerprint"),
        utf8("previous_digest_signature"),
        utf8("account_id"),
        utf8("region"),
        Field::new("digest_start_time", ts_type(), true),
        Field::new("digest_end_time", ts_type(), true),
        // SHA-256 of the digest file's uncompressed content, hex.
        utf8("digest_sha256"),
        Field::new("entry", DataType::Utf8, false),
        utf8("s3_object"),
        utf8("hash_value"),
        utf8("hash_algorithm"),
        Field::new("source_file", DataType::Utf8, false),
    ]))
});

/// One row of `cloudtrail_digests`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DigestRow<'a> {
    pub digest_file: &'a str,
    pub digest_s3_bucket: Option<&'a str>,
    pub digest_s3_object: Option<&'a str>,
    pub digest_end_text: Option<&'a str>,
    pub public_key_fingerprint: Option<&'a str>,
    pub previous_digest_signature: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub region: Option<String>,
    pub digest_start_time: Option<i64>,
    pub digest_end_time: Option<i64>,
    pub digest_sha256: Option<&'a str>,
    pub entry: &'a str,
    pub s3_object: Option<&'a str>,
    pub hash_value: Option<&'a str>,
    pub hash_algorithm: Option<&'a str>,
    pub source_file: &'a str,
}

/// One row of `inventory`: a resource of a `describe-*` snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InventoryRow<'a> {
    /// Microseconds, UTC.
    pub snapshot_time: i64,
    pub snapshot_time_basis: &'a str,
    pub kind: &'a str,
    pub resource_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub region: Option<&'a str>,
    pub vpc_id: Option<&'a str>,
    pub item: &'a str,
    pub source_file: &'a str,
}

/// One row of `ingested_files`: a source file a run read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestedFileRow<'a> {
    pub run_id: &'a str,
    /// Microseconds, UTC.
    pub ingested_at: i64,
    pub file_id: &'a str,
    pub source_file: &'a str,
    pub kind: &'a str,
    pub format: Option<&'a str>,
    pub size_bytes: i64,
    pub records: i64,
    pub rows_loaded: i64,
    pub duplicates: i64,
    pub errors: i64,
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    pub account_id: Option<&'a str>,
    pub region: Option<&'a str>,
    pub status: &'a str,
    pub duplicate_of: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub content_sha256: Option<&'a str>,
}

/// One row of `ingest_errors`: a rejected input, or a note about a loaded one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestErrorRow<'a> {
    pub run_id: &'a str,
    /// Microseconds, UTC.
    pub logged_at: i64,
    pub severity: &'a str,
    pub file: &'a str,
    pub member: Option<&'a str>,
    pub line: Option<i64>,
    pub record: Option<i64>,
    pub reason: &'a str,
    pub excerpt: Option<&'a str>,
    pub source_file: &'a str,
}

/// A batch of a table built from typed rows: each field goes to the column of its name (never by
/// position), and a field the table lacks, or a column no field fills, is an error.
pub fn batch_of<T: serde::Serialize>(
    table: &str,
    rows: &[T],
) -> crate::error::Result<datafusion::arrow::record_batch::RecordBatch> {
    let schema = schema_of(table).ok_or_else(|| crate::error::Error::Internal(format!("no table {table}")))?;
    let mut decoder =
        datafusion::arrow::json::ReaderBuilder::new(schema.clone()).with_strict_mode(true).build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| datafusion::arrow::record_batch::RecordBatch::new_empty(schema)))
}

/// The schema of a table by name.
pub fn schema_of(table: &str) -> Option<SchemaRef> {
    Some(match table {
        CLOUDTRAIL => CLOUDTRAIL_SCHEMA.clone(),
        FLOW_LOGS => FLOW_LOGS_SCHEMA.clone(),
        INVENTORY => INVENTORY_SCHEMA.clone(),
        INGEST_ERRORS => INGEST_ERRORS_SCHEMA.clone(),
        INGESTED_FILES => INGESTED_FILES_SCHEMA.clone(),
        EVENT_COPIES => EVENT_COPIES_SCHEMA.clone(),
        CLOUDTRAIL_DIGESTS => CLOUDTRAIL_DIGESTS_SCHEMA.clone(),
        NACL_CHANGES => NACL_CHANGES_SCHEMA.clone(),
        NETWORK_INTERFACES => NETWORK_INTERFACES_SCHEMA.clone(),
        ACL_ASSOCIATIONS => ACL_ASSOCIATIONS_SCHEMA.clone(),
        NACL_ENTRIES => NACL_ENTRIES_SCHEMA.clone(),
        NACL_RULE_SETS => NACL_RULE_SETS_SCHEMA.clone(),
        SG_CHANGES => SG_CHANGES_SCHEMA.clone(),
        SG_RULES => SG_RULES_SCHEMA.clone(),
        INTERFACE_GROUPS => INTERFACE_GROUPS_SCHEMA.clone(),
        SG_CHANGE_SCOPE => SG_CHANGE_SCOPE_SCHEMA.clone(),
        _ => return None,
    })
}

/// The time column files of a table are sorted by and partitioned on.
pub fn time_column(table: &str) -> &'static str {
    match table {
        CLOUDTRAIL | EVENT_COPIES => "event_time",
        CLOUDTRAIL_DIGESTS => "digest_end_time",
        FLOW_LOGS => "start_time",
        INVENTORY => "snapshot_time",
        INGEST_ERRORS => "logged_at",
        _ => "ingested_at",
    }
}

/// Text columns that hold whole JSON documents: written without min/max statistics, which for a
/// document say nothing a filter can use and cost a comparison of long values per row.
pub fn document_columns(table: &str) -> &'static [&'static str] {
    match table {
        CLOUDTRAIL => &[
            "raw",
            "request_parameters",
            "response_elements",
            "additional_event_data",
            "resources",
            "service_event_details",
        ],
        FLOW_LOGS => &["extra_fields"],
        INVENTORY => &["item"],
        _ => &[],
    }
}

/// Text columns whose value differs from row to row (ids, the raw record): stored without a
/// dictionary, lengths apart from the bytes (`DELTA_LENGTH_BYTE_ARRAY`).
pub fn unique_columns(table: &str) -> &'static [&'static str] {
    match table {
        CLOUDTRAIL => &["event_id", "request_id", "raw"],
        EVENT_COPIES => &["event_id"],
        INGESTED_FILES => &["file_id", "sha256", "content_sha256"],
        _ => &[],
    }
}

/// Integer columns that count up in a file's time order (the time column itself is one too):
/// stored as deltas (`DELTA_BINARY_PACKED`).
pub fn delta_columns(table: &str) -> &'static [&'static str] {
    match table {
        CLOUDTRAIL | EVENT_COPIES => &["source_record"],
        FLOW_LOGS => &["source_line"],
        INGEST_ERRORS => &["line", "record"],
        _ => &[],
    }
}

/// Integer columns whose values span orders of magnitude (a flow's byte and packet counts):
/// stored with their bytes split into streams (`BYTE_STREAM_SPLIT`), the high bytes of which are
/// mostly zero and compress to almost nothing. On the benchmark sets, 6 to 9 % smaller than
/// deltas (`bytes`) or plain (`packets`).
pub fn split_columns(table: &str) -> &'static [&'static str] {
    match table {
        FLOW_LOGS => &["bytes", "packets"],
        _ => &[],
    }
}

/// The rows at `group` (batch, row) of `batches`, as one batch of the lake's `schema`.
///
/// Buffered batches may be leaner than the lake's schema, to hold more rows in the same memory: a
/// column a batch lacks is null in each of its rows (a flow log format without `vpc-id`), and a
/// column may come dictionary-encoded (a flow log file's name, once per file rather than once
/// per row). Each column is gathered from the arrays that hold its values, without expanding
/// either form first.
pub fn gather(
    schema: &SchemaRef,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    group: &[(usize, usize)],
) -> datafusion::arrow::error::Result<datafusion::arrow::record_batch::RecordBatch> {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, new_null_array};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::arrow::record_batch::RecordBatch;
    if batches.iter().all(|b| b.schema().fields() == schema.fields()) {
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        return datafusion::arrow::compute::interleave_record_batch(&refs, group);
    }
    enum Slot<'b> {
        Missing,
        Direct(usize),
        Dict(usize, &'b datafusion::arrow::array::Int32Array),
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let ty = field.data_type();
        // Position 0 is a single null, for the rows of batches without the column.
        let mut arrays: Vec<ArrayRef> = vec![new_null_array(ty, 1)];
        let mut slots = Vec::with_capacity(batches.len());
        for b in batches {
            slots.push(match b.column_by_name(field.name()) {
                None => Slot::Missing,
                Some(a) if a.data_type() == ty => {
                    arrays.push(a.clone());
                    Slot::Direct(arrays.len() - 1)
                }
                Some(a) if matches!(a.data_type(), DataType::Dictionary(k, v) if **k == DataType::Int32 && v.as_ref() == ty) => {
                    let d = a.as_dictionary::<Int32Type>();
                    arrays.push(d.values().clone());
                    Slot::Dict(arrays.len() - 1, d.keys())
                }
                Some(a) => {
                    arrays.push(datafusion::arrow::compute::cast(a, ty)?);
                    Slot::Direct(arrays.len() - 1)
                }
            });
        }
        if arrays.len() == 1 {
            columns.push(new_null_array(ty, group.len()));
            continue;
        }
        let at: Vec<(usize, usize)> = group
            .iter()
            .map(|&(b, r)| match &slots[b] {
                Slot::Missing => (0, 0),
                Slot::Direct(p) => (*p, r),
                Slot::Dict(p, keys) if keys.is_valid(r) => (*p, keys.value(r) as usize),
                Slot::Dict(..) => (0, 0),
            })
            .collect();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        columns.push(datafusion::arrow::compute::interleave(&refs, &at)?);
    }
    RecordBatch::try_new(schema.clone(), columns)
}

/// Columns that get a Parquet bloom filter, for needle lookups.
pub fn bloom_columns(table: &str) -> &'static [&'static str] {
    match table {
        CLOUDTRAIL => &["event_id", "access_key_id", "source_ip", "user_arn"],
        FLOW_LOGS => &["srcaddr", "dstaddr", "interface_id"],
        INVENTORY => &["resource_id"],
        _ => &[],
    }
}

/// CloudTrail's own field names (as records, the console, Athena and Sigma spell them) and the
/// `cloudtrail` column that holds each, where the column holds exactly that field.
/// (`userIdentity.userName` is not among them: `user_name` falls back to the role session
/// issuer's name.)
pub const CLOUDTRAIL_FIELD_COLUMNS: &[(&str, &str)] = &[
    ("eventSource", "event_source"),
    ("eventName", "event_name"),
    ("awsRegion", "aws_region"),
    ("sourceIPAddress", "source_ip"),
    ("userAgent", "user_agent"),
    ("errorCode", "error_code"),
    ("errorMessage", "error_message"),
    ("eventType", "event_type"),
    ("eventCategory", "event_category"),
    ("recipientAccountId", "recipient_account_id"),
    ("eventID", "event_id"),
    ("requestID", "request_id"),
    ("userIdentity.type", "user_type"),
    ("userIdentity.arn", "user_arn"),
    ("userIdentity.principalId", "principal_id"),
    ("userIdentity.accountId", "account_id"),
    ("userIdentity.accessKeyId", "access_key_id"),
    ("userIdentity.invokedBy", "invoked_by"),
    ("userIdentity.sessionContext.sessionIssuer.arn", "session_issuer_arn"),
    ("userIdentity.sessionContext.sessionIssuer.userName", "session_issuer_user_name"),
];

/// A table's columns as stable text, one `name type nullable` a line: what fingerprints are taken
/// of (a type's `Debug` form may change with the toolchain; this text changes only with the
/// schema).
pub fn schema_text(schema: &datafusion::arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {} {}\n", f.name(), f.data_type(), if f.is_nullable() { "null" } else { "not null" }))
        .collect()
}

/// SHA-256 of `text`, in hex: the stable fingerprint of derived files (the same for the same text
/// on every build and machine).
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_fills_absent_columns_and_expands_dictionaries() {
        use datafusion::arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, Int64Array, StringArray};
        use datafusion::arrow::datatypes::Int32Type;
        use datafusion::arrow::record_batch::RecordBatch;
        let lake = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("file", DataType::Utf8, false),
        ]));
        // One batch has `a` and names its file once, as a dictionary; the other lacks `a`.
        let dict =
            DictionaryArray::<Int32Type>::try_new(vec![0, 0].into(), Arc::new(StringArray::from(vec!["f1"]))).unwrap();
        let first = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
                Field::new("file", dict.data_type().clone(), false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(dict),
            ],
        )
        .unwrap();
        let second = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("n", DataType::Int64, true),
                Field::new("file", DataType::Utf8, false),
            ])),
            vec![Arc::new(Int64Array::from(vec![3])) as ArrayRef, Arc::new(StringArray::from(vec!["f2"]))],
        )
        .unwrap();
        let rows = gather(&lake, &[first, second], &[(1, 0), (0, 1), (0, 0)]).unwrap();
        assert_eq!(rows.schema(), lake);
        let a = rows.column(0).as_string::<i32>();
        assert!(a.is_null(0));
        assert_eq!((a.value(1), a.value(2)), ("y", "x"));
        let n = rows.column(1).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(n.values().to_vec(), vec![3, 2, 1]);
        let file = rows.column(2).as_string::<i32>();
        assert_eq!((file.value(0), file.value(1), file.value(2)), ("f2", "f1", "f1"));
    }

    #[test]
    fn typed_rows_fill_their_tables_by_name() {
        let row = IngestErrorRow {
            run_id: "r",
            logged_at: 1_000_000,
            severity: "error",
            file: "f.zip",
            member: Some("m.json"),
            line: Some(3),
            record: None,
            reason: "bad",
            excerpt: None,
            source_file: "f.zip!m.json",
        };
        let b = batch_of(INGEST_ERRORS, &[row.clone(), row]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), INGEST_ERRORS_SCHEMA.clone());
        // A row of another table's shape does not fit.
        assert!(batch_of(INGESTED_FILES, &[IngestErrorRow { reason: "x", ..b_row() }]).is_err());
    }

    fn b_row() -> IngestErrorRow<'static> {
        IngestErrorRow {
            run_id: "r",
            logged_at: 0,
            severity: "error",
            file: "f",
            member: None,
            line: None,
            record: None,
            reason: "",
            excerpt: None,
            source_file: "f",
        }
    }

    #[test]
    fn flow_field_names_are_unique_and_default_format_is_first() {
        let mut seen = std::collections::HashSet::new();
        for f in FLOW_FIELDS {
            assert!(seen.insert(f.aws), "duplicate {}", f.aws);
            assert_eq!(f.column, f.aws.replace('-', "_").replace("start", "start_time").replace("end", "end_time"));
        }
        assert_eq!(FLOW_FIELDS[DEFAULT_FORMAT_FIELDS - 1].aws, "log-status");
        assert!(FLOW_FIELDS[..DEFAULT_FORMAT_FIELDS].iter().all(|f| f.version == 2));
    }
}
