//! Inventory decoder: the JSON that `aws ec2 describe-*` prints, one row per resource.

use serde_json::Value;

/// Is this JSON object a `describe-*` output: does it hold one of [`INVENTORY_KEYS`] at its top?
pub fn is_inventory(object: &str) -> bool {
    serde_json::from_str::<std::collections::HashMap<String, &serde_json::value::RawValue>>(object)
        .is_ok_and(|top| INVENTORY_KEYS.iter().any(|(key, _, _)| top.contains_key(*key)))
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
}

/// The top-level keys of `describe-*` outputs, the kind each is stored as, and its id field.
pub const INVENTORY_KEYS: &[(&str, &str, &str)] = &[
    ("NetworkAcls", "network_acls", "NetworkAclId"),
    ("NetworkInterfaces", "network_interfaces", "NetworkInterfaceId"),
    ("Subnets", "subnets", "SubnetId"),
    ("Reservations", "instances", "InstanceId"),
    ("Vpcs", "vpcs", "VpcId"),
    ("SecurityGroups", "security_groups", "GroupId"),
    ("FlowLogs", "flow_logs", "FlowLogId"),
];


fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Items of one `describe-*` document. `key` is its top-level key, `value` the array under it.
pub fn items(key: &str, value: &Value, path_region: Option<&str>) -> Result<Vec<InvItem>, String> {
    let Some(&(_, kind, id_field)) = INVENTORY_KEYS.iter().find(|(k, _, _)| *k == key) else {
        return Err(format!("unknown inventory key {key}"));
    };
    let Some(arr) = value.as_array() else {
        return Err(format!("{key} is not an array"));
    };
    let mut out = Vec::new();
    let mut push = |item: &Value, owner: Option<String>| {
        let az = s(item, "AvailabilityZone").or_else(|| item.get("Placement").and_then(|p| s(p, "AvailabilityZone")));
        let region = az.as_deref().and_then(crate::aws::region_of_az).or(path_region.map(str::to_string));
        out.push(InvItem {
            kind,
            resource_id: s(item, id_field),
            account_id: s(item, "OwnerId").or(owner),
            region,
            vpc_id: s(item, "VpcId").or_else(|| {
                // Flow logs name their resource; a VPC flow log's resource is the VPC.
                s(item, "ResourceId").filter(|r| r.starts_with("vpc-"))
            }),
            item: item.to_string(),
        });
    };
    if key == "Reservations" {
        for r in arr {
            let owner = s(r, "OwnerId");
            for inst in r.get("Instances").and_then(Value::as_array).into_iter().flatten() {
                push(inst, owner.clone());
            }
        }
    } else {
        for item in arr {
            push(item, None);
        }
    }
    Ok(out)
}
