//! Inventory decoder: the JSON that `aws ec2 describe-*` prints, one row per resource.

use serde_json::Value;

/// Is this JSON object a `describe-*` output or an AWS Config snapshot or history file: does it
/// hold one of [`INVENTORY_KEYS`] or [`CONFIG_KEYS`] at its top?
pub fn is_inventory(object: &str) -> bool {
    serde_json::from_str::<std::collections::HashMap<String, &serde_json::value::RawValue>>(object).is_ok_and(|top| {
        CONFIG_KEYS.iter().any(|k| top.contains_key(*k))
            || INVENTORY_KEYS.iter().any(|(key, _, _)| top.contains_key(*key))
    })
}

/// One resource of an inventory snapshot.
#[derive(Debug, Clone)]
pub struct InvItem {
    pub kind: &'static str,
    pub resource_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub vpc_id: Option<String>,
    pub item: String,
    /// When AWS Config captured the item (microseconds, UTC). `None` for `describe-*` output,
    /// whose time is given or inferred for the whole snapshot.
    pub captured: Option<i64>,
}

/// The top-level keys of `describe-*` outputs, the kind each is stored as, and its id field.
pub const INVENTORY_KEYS: &[(&str, &str, &str)] = &[
    ("NetworkAcls", "network_acls", "NetworkAclId"),
    ("NetworkInterfaces", "network_interfaces", "NetworkInterfaceId"),
    ("Subnets", "subnets", "SubnetId"),
    ("Reservations", "instances", "InstanceId"),
    ("Vpcs", "vpcs", "VpcId"),
    ("SecurityGroups", "security_groups", "GroupId"),
    // `describe-security-group-rules`: each rule with its id and group.
    ("SecurityGroupRules", "security_group_rules", "SecurityGroupRuleId"),
    ("FlowLogs", "flow_logs", "FlowLogId"),
    // `aws cloudtrail list-public-keys`: the keys digest signatures are checked with.
    ("PublicKeyList", "cloudtrail_public_keys", "Fingerprint"),
];

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Items of one `describe-*` document. `key` is its top-level key, `value` the array under it.
pub fn items(key: &str, value: &Value, path_region: Option<&str>) -> Result<Vec<InvItem>, super::Rejected> {
    let Some(arr) = value.as_array() else {
        return Err(format!("{key} is not an array").into());
    };
    let mut out = Vec::new();
    for element in arr {
        out.extend(element_items(key, element, path_region)?);
    }
    Ok(out)
}

/// The items of one element of a `describe-*` array under `key` (a reservation holds several
/// instances; any other element is one resource). Large documents are read element by element.
pub fn element_items(key: &str, element: &Value, path_region: Option<&str>) -> Result<Vec<InvItem>, super::Rejected> {
    let Some(&(_, kind, id_field)) = INVENTORY_KEYS.iter().find(|(k, _, _)| *k == key) else {
        return Err(format!("unknown inventory key {key}").into());
    };
    let one = |item: &Value, owner: Option<String>| {
        let az = s(item, "AvailabilityZone").or_else(|| item.get("Placement").and_then(|p| s(p, "AvailabilityZone")));
        let region = az.as_deref().and_then(crate::aws::region_of_az).or(path_region.map(str::to_string));
        InvItem {
            kind,
            resource_id: s(item, id_field),
            account_id: s(item, "OwnerId").or(owner),
            region,
            vpc_id: s(item, "VpcId").or_else(|| {
                // Flow logs name their resource; a VPC flow log's resource is the VPC.
                s(item, "ResourceId").filter(|r| r.starts_with("vpc-"))
            }),
            item: item.to_string(),
            captured: None,
        }
    };
    if key == "Reservations" {
        let owner = s(element, "OwnerId");
        Ok(element
            .get("Instances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|inst| one(inst, owner.clone()))
            .collect())
    } else {
        Ok(vec![one(element, None)])
    }
}

/// The keys AWS Config's items come under: snapshot and history files delivered to S3
/// (`{"fileVersion": ..., "configurationItems": [...]}`, also the output of
/// `get-resource-config-history`), and `batch-get-resource-config` output
/// (`{"baseConfigurationItems": [...]}`).
pub const CONFIG_KEYS: [&str; 2] = ["configurationItems", "baseConfigurationItems"];

/// AWS Config resource types stored as inventory, and the kind each is stored as (the same
/// kinds as `describe-*` output: the readers of `inventory` take either, field names in any case).
pub const CONFIG_TYPES: &[(&str, &str)] = &[
    ("AWS::EC2::NetworkAcl", "network_acls"),
    ("AWS::EC2::NetworkInterface", "network_interfaces"),
    ("AWS::EC2::Subnet", "subnets"),
    ("AWS::EC2::Instance", "instances"),
    ("AWS::EC2::VPC", "vpcs"),
    ("AWS::EC2::SecurityGroup", "security_groups"),
    // Managed prefix lists with their entries: the peers of security-group rules that name one.
    ("AWS::EC2::PrefixList", "prefix_lists"),
];

/// What a Config file held.
#[derive(Debug, Default)]
pub struct ConfigItems {
    pub items: Vec<InvItem>,
    /// Items of resource types not stored, or recording a deletion (no configuration).
    pub skipped: usize,
    /// Items that could not be read, with why.
    pub rejected: Vec<(usize, String)>,
}

/// The configuration items of an AWS Config snapshot or history file, each at its own capture
/// time (`configurationItemCaptureTime`).
pub fn config_items(items: &Value) -> Result<ConfigItems, super::Rejected> {
    let Some(arr) = items.as_array() else {
        return Err("configurationItems is not an array".into());
    };
    let mut out = ConfigItems::default();
    for (i, ci) in arr.iter().enumerate() {
        match config_item(ci) {
            Ok(Some(item)) => out.items.push(item),
            Ok(None) => out.skipped += 1,
            Err(why) => out.rejected.push((i + 1, why.0)),
        }
    }
    Ok(out)
}

/// One configuration item: `None` when its resource type is not stored or it records a deletion
/// (no configuration), an error when it cannot be placed in time.
pub fn config_item(ci: &Value) -> Result<Option<InvItem>, super::Rejected> {
    let Some(&(_, kind)) = s(ci, "resourceType").and_then(|t| CONFIG_TYPES.iter().find(|(c, _)| *c == t)) else {
        return Ok(None);
    };
    let configuration = match ci.get("configuration") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    if !configuration.is_object() {
        // A deleted resource has no configuration.
        return Ok(None);
    }
    // Delivered files write the time as text; the API's CLI output (get-resource-config-history,
    // batch-get-resource-config) as text or, from AWS CLI v1, as epoch seconds.
    let captured = match ci.get("configurationItemCaptureTime") {
        Some(Value::String(t)) => crate::time::parse_time(t),
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| (f * 1e6).round() as i64),
        _ => None,
    };
    let Some(captured) = captured else {
        return Err("configuration item without a configurationItemCaptureTime".into());
    };
    Ok(Some(InvItem {
        kind,
        resource_id: s(ci, "resourceId"),
        account_id: s(ci, "awsAccountId").or_else(|| s(ci, "accountId")),
        region: s(ci, "awsRegion"),
        vpc_id: s(&configuration, "vpcId").or_else(|| s(&configuration, "VpcId")),
        item: configuration.to_string(),
        captured: Some(captured),
    }))
}

/// The kinds inventory is stored as, for reading items back by name.
pub fn kind_named(name: &str) -> Option<&'static str> {
    INVENTORY_KEYS.iter().map(|(_, k, _)| *k).chain(CONFIG_TYPES.iter().map(|(_, k)| *k)).find(|k| *k == name)
}
