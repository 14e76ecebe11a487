//! Writing the evidence as AWS delivers it: flow log files per flow log and interval, CloudTrail
//! files per account, region and interval (with a digest and an overlapping trail's copies), and
//! the inventory's `describe-*` output.

use super::*;

/// Flow logs: one file per flow log per delivery interval (5 minutes for the default-format log,
/// 10 for the custom ones, as AWS delivers to S3), in the layouts AWS delivers. Returns the records.
pub(super) fn write_flow_logs(
    rng: &mut Rng,
    out: &Path,
    enis: &[Eni],
    flows: &[Flow],
    file_minutes: i64,
    real_count: bool,
) -> Result<usize> {
    // (VPC's flow log, part): with `real_count` there are six flow logs, all delivered every
    // `file_minutes`: VPC A's interfaces split among four (as flow logs per subnet or per
    // interface would be), one for each other VPC.
    let mut files: BTreeMap<((usize, usize), i64), Vec<&Flow>> = BTreeMap::new();
    let group = |e: &Eni| match e.vpc {
        "vpc-0a1000000000000001" => 0,
        "vpc-0a2000000000000002" => 1,
        _ => 2,
    };
    let interval = |g: usize| {
        if g == 0 || real_count { file_minutes * 60 } else { (2 * file_minutes).min(60) * 60 }
    };
    for f in flows {
        let g = group(&enis[f.eni]);
        let half = if real_count && g == 0 { [0, 1, 0, 2, 3, 2][f.eni % 6] } else { 0 };
        let every = interval(g);
        files.entry(((g, half), T0 + (f.start - T0).div_euclid(every) * every)).or_default().push(f);
    }
    let mut flow_records = 0usize;
    for (((g, half), t), mut fs) in files {
        // A VPC's further flow logs are named after its first, with 2, 3, ... for its last digit.
        let fl = |id: &str| if half == 0 { id.to_string() } else { format!("{}{}", &id[..id.len() - 1], half + 1) };
        fs.sort_by_key(|f| (f.start, f.eni));
        let (y, m, d, hh) = ymd(t);
        let stamp = chrono::DateTime::from_timestamp(t, 0).expect("time").format("%Y%m%dT%H%MZ").to_string();
        let custom = g != 0;
        let mut text = String::with_capacity(fs.len() * 120);
        text.push_str(if custom { CUSTOM_HEADER } else { DEFAULT_HEADER });
        text.push('\n');
        for f in &fs {
            text.push_str(&flow_line(f, &enis[f.eni], custom));
            text.push('\n');
        }
        flow_records += fs.len();
        let h8 = rng.hex(8);
        let path = match g {
            0 => out.join(format!("AWSLogs/{ACCT_A}/vpcflowlogs/us-east-1/{y}/{m}/{d}/{ACCT_A}_vpcflowlogs_us-east-1_{}_{stamp}_{h8}.log.gz", fl("fl-0a10000000000000a"))),
            1 => out.join(format!("AWSLogs/aws-account-id={ACCT_A}/aws-service=vpcflowlogs/aws-region=us-east-1/year={y}/month={m}/day={d}/hour={hh}/{ACCT_A}_vpcflowlogs_us-east-1_{}_{stamp}_{h8}.log.gz", fl("fl-0a20000000000000b"))),
            _ => out.join(format!("AWSLogs/aws-account-id={ACCT_B}/aws-service=vpcflowlogs/aws-region=eu-west-1/year={y}/month={m}/day={d}/hour={hh}/{ACCT_B}_vpcflowlogs_eu-west-1_{}_{stamp}_{h8}.log.gz", fl("fl-0b10000000000000c"))),
        };
        write_gz(&path, text.as_bytes())?;
    }
    Ok(flow_records)
}

/// CloudTrail: one file per account, region and delivery interval (AWS delivers about every five
/// minutes), records in no particular order, an overlapping trail's copies, and a digest file
/// for account A's first hour in us-east-1 that also names a log file removed from the bucket.
/// Returns the copies written and the removed file's S3 key.
pub(super) fn write_cloudtrail(
    rng: &mut Rng,
    own: &mut Rng,
    out: &Path,
    events: &[CtEvent],
    file_minutes: i64,
) -> Result<(usize, String)> {
    let every = file_minutes * 60;
    // Events planted with a file of their own: written apart, from a random stream of their own.
    let mut own_files: BTreeMap<(&str, &str, i64), Vec<&CtEvent>> = BTreeMap::new();
    for ev in events.iter().filter(|e| e.own_file) {
        own_files.entry((ev.account, ev.region, (ev.time - T0).div_euclid(every))).or_default().push(ev);
    }
    for ((account, region, slot), evs) in &own_files {
        let t = T0 + slot * every;
        let (y, m, d, _) = ymd(t);
        let stamp = chrono::DateTime::from_timestamp(t + every, 0).expect("time").format("%Y%m%dT%H%MZ").to_string();
        let prefix = if *account == ACCT_B { format!("AWSLogs/{ORG}/{account}") } else { format!("AWSLogs/{account}") };
        let name = format!("{account}_CloudTrail_{region}_{stamp}_{}.json.gz", own.hex(16));
        let body = json!({"Records": evs.iter().map(|e| &e.value).collect::<Vec<_>>()});
        write_gz(&out.join(format!("{prefix}/CloudTrail/{region}/{y}/{m}/{d}/{name}")), body.to_string().as_bytes())?;
    }
    let mut ct_files: BTreeMap<(&str, &str, i64), Vec<&CtEvent>> = BTreeMap::new();
    for ev in events.iter().filter(|e| !e.own_file) {
        ct_files.entry((ev.account, ev.region, (ev.time - T0).div_euclid(every))).or_default().push(ev);
    }
    let mut dup_count = 0usize;
    let mut first_file: Option<PathBuf> = None;
    // The log files the digest names: (S3 key, SHA-256 of the uncompressed content).
    let mut digested: Vec<(String, String)> = Vec::new();
    for ((account, region, slot), mut evs) in ct_files {
        // Shuffle: CloudTrail files are not time-ordered.
        for i in (1..evs.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            evs.swap(i, j);
        }
        let t = T0 + slot * every;
        let (y, m, d, _) = ymd(t);
        let stamp = chrono::DateTime::from_timestamp(t + every, 0).expect("time").format("%Y%m%dT%H%MZ").to_string();
        let prefix = if account == ACCT_B { format!("AWSLogs/{ORG}/{account}") } else { format!("AWSLogs/{account}") };
        let name = format!("{account}_CloudTrail_{region}_{stamp}_{}.json.gz", rng.hex(16));
        let path = out.join(format!("{prefix}/CloudTrail/{region}/{y}/{m}/{d}/{name}"));
        let body = json!({"Records": evs.iter().map(|e| &e.value).collect::<Vec<_>>()});
        write_gz(&path, body.to_string().as_bytes())?;
        if account == ACCT_A && region == "us-east-1" && t < T0 + H {
            digested.push((
                format!("{prefix}/CloudTrail/{region}/{y}/{m}/{d}/{name}"),
                sha256_hex(body.to_string().as_bytes()),
            ));
        }
        // (A file with more events than the copies, so the second trail's file is not identical.)
        if first_file.is_none() && account == ACCT_A && evs.len() > 5 {
            first_file = Some(path.clone());
            // An overlapping second trail delivered some of the same events again.
            let copies: Vec<&Value> = evs.iter().take(5).map(|e| &e.value).collect();
            dup_count = copies.len();
            let dup_path = out.join(format!(
                "AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{stamp}_{}.json.gz",
                rng.hex(16)
            ));
            write_gz(&dup_path, json!({"Records": copies}).to_string().as_bytes())?;
        }
    }
    // A digest file: it names the hour's log files, and one that was removed from the bucket.
    let (y, m, d, _) = ymd(T0);
    let removed = format!(
        "AWSLogs/{ACCT_A}/CloudTrail/us-east-1/{y}/{m}/{d}/{ACCT_A}_CloudTrail_us-east-1_{y}{m}{d}T0035Z_R3m0v3dFr0mBuck3t.json.gz"
    );
    digested.push((removed.clone(), sha256_hex(b"{\"Records\":[]}")));
    let log_files: Vec<Value> = digested
        .iter()
        .map(|(key, hash)| {
            json!({"s3Bucket": "example-trail-bucket", "s3Object": key, "hashValue": hash, "hashAlgorithm": "SHA-256",
            "newestEventTime": iso(T0 + H - 1), "oldestEventTime": iso(T0)})
        })
        .collect();
    let digest = json!({"awsAccountId": ACCT_A, "digestStartTime": iso(T0), "digestEndTime": iso(T0 + H), "digestS3Bucket": "example-trail-bucket",
        "digestS3Object": format!("AWSLogs/{ACCT_A}/CloudTrail-Digest/us-east-1/{y}/{m}/{d}/{ACCT_A}_CloudTrail-Digest_us-east-1_management-events_us-east-1_{y}{m}{d}T010000Z.json.gz"),
        "newestEventTime": iso(T0 + H - 1), "oldestEventTime": iso(T0), "previousDigestS3Bucket": null, "previousDigestHashValue": null,
        "digestPublicKeyFingerprint": rng.hex(32), "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": log_files});
    write_gz(
        &out.join(format!("AWSLogs/{ACCT_A}/CloudTrail-Digest/us-east-1/{y}/{m}/{d}/{ACCT_A}_CloudTrail-Digest_us-east-1_management-events_us-east-1_{y}{m}{d}T010000Z.json.gz")),
        digest.to_string().as_bytes(),
    )?;
    Ok((dup_count, removed))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `describe-*` inventory, as collected at the end of the period. Returns the items written.
pub(super) fn write_inventory(out: &Path, net: &Network, enis: &[Eni], end: i64) -> Result<usize> {
    let (acls, assoc) = net.state_at(end);
    for (account, region) in [(ACCT_A, "us-east-1"), (ACCT_B, "eu-west-1")] {
        let dir = out.join(format!("inventory/{account}/{region}"));
        let acl_items: Vec<Value> = acls
            .iter()
            .filter(|(acl, _)| (account == ACCT_B) == acl.starts_with("acl-0b"))
            .map(|(acl, rules)| {
                let mut rules = rules.clone();
                rules.sort_by_key(|r| (r.egress, r.number));
                let entries: Vec<Value> = rules
                    .iter()
                    .map(|r| {
                        let cidr_key = if r.cidr.contains(':') { "Ipv6CidrBlock" } else { "CidrBlock" };
                        let mut e = json!({cidr_key: r.cidr, "Egress": r.egress, "Protocol": r.protocol.to_string(), "RuleAction": if r.allow { "allow" } else { "deny" }, "RuleNumber": r.number});
                        if let Some((a, b)) = r.ports {
                            e["PortRange"] = json!({"From": a, "To": b});
                        }
                        e
                    })
                    .collect();
                let associations: Vec<Value> = assoc
                    .iter()
                    .filter(|(_, (a, _))| a == acl)
                    .map(|(subnet, (_, id))| json!({"NetworkAclAssociationId": id, "NetworkAclId": acl, "SubnetId": subnet}))
                    .collect();
                json!({"Associations": associations, "Entries": entries, "IsDefault": false, "NetworkAclId": acl, "Tags": [], "VpcId": vpc_of_acl(acl), "OwnerId": account})
            })
            .collect();
        write_text(
            &dir.join("describe-network-acls.json"),
            &serde_json::to_string_pretty(&json!({"NetworkAcls": acl_items}))?,
        )?;
        let account_enis: Vec<&Eni> = enis.iter().filter(|e| e.account == account).collect();
        let nis: Vec<Value> = account_enis
            .iter()
            .map(|e| json!({"AvailabilityZone": e.az, "Description": "", "InterfaceType": "interface", "NetworkInterfaceId": e.id, "OwnerId": account,
                "PrivateIpAddress": e.ip, "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": e.ip}], "Status": "in-use", "SubnetId": e.subnet, "VpcId": e.vpc,
                "Attachment": {"InstanceId": e.instance, "DeviceIndex": 0, "Status": "attached"}}))
            .collect();
        write_text(
            &dir.join("describe-network-interfaces.json"),
            &serde_json::to_string_pretty(&json!({"NetworkInterfaces": nis}))?,
        )?;
        let mut subnets: Vec<Value> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for e in &account_enis {
            if seen.insert(e.subnet) {
                let cidr = format!("{}.0/24", e.ip.rsplit_once('.').map(|x| x.0).unwrap_or("10.0.0"));
                subnets.push(json!({"AvailabilityZone": e.az, "CidrBlock": cidr, "OwnerId": account, "SubnetId": e.subnet, "VpcId": e.vpc, "State": "available"}));
            }
        }
        write_text(&dir.join("describe-subnets.json"), &serde_json::to_string_pretty(&json!({"Subnets": subnets}))?)?;
        let vpcs: Vec<Value> = account_enis
            .iter()
            .map(|e| e.vpc)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|v| {
                let cidr = match v {
                    "vpc-0a1000000000000001" => "10.0.0.0/16",
                    "vpc-0a2000000000000002" => "10.1.0.0/16",
                    _ => "172.16.0.0/16",
                };
                json!({"CidrBlock": cidr, "IsDefault": false, "OwnerId": account, "State": "available", "VpcId": v})
            })
            .collect();
        write_text(&dir.join("describe-vpcs.json"), &serde_json::to_string_pretty(&json!({"Vpcs": vpcs}))?)?;
    }
    let inventory_items: usize = {
        let a = acls.keys().count();
        a + enis.len() + 5 + 3
    };
    Ok(inventory_items)
}
