//! Stories added to the case after it was first written: what the intruder did around their hold
//! (`Planted::recovery_story`) and the contractor's security-group work
//! (`Planted::security_group_story`). Each is drawn from a random stream of its own and written to
//! files of its own, so that every event and file planted before it stays as it was.

use serde_json::{Value, json};

use super::scenarios::*;
use super::stories::plant;
use super::*;

impl Planted {
    /// The intruder's escalation that worked (the enumeration's refused
    /// GetAccountAuthorizationDetails, allowed two minutes after the self-granted policy), the
    /// probe of the backups bucket's recovery settings before its objects are deleted (versioning,
    /// object lock, lifecycle: can the victim recover?), and a bucket policy change on the flow log
    /// bucket five minutes before the second day's delivery failures. Each event in a file of its
    /// own, so that the rest of the set is as it was.
    pub(super) fn recovery_story(&mut self, rng: &mut Rng, cast: &Cast) {
        let before = self.events.len();
        let a = &cast.attacker;
        plant(
            self,
            rng,
            36.23,
            a,
            "iam.amazonaws.com",
            "GetAccountAuthorizationDetails",
            json!({"filter": ["User", "Role", "Group", "LocalManagedPolicy"]}),
            Value::Null,
            None,
            "escalation_that_worked",
        );
        let bucket = json!({"bucketName": "a1-backups", "Host": "a1-backups.s3.amazonaws.com"});
        plant(
            self,
            rng,
            37.55,
            a,
            "s3.amazonaws.com",
            "GetBucketVersioning",
            bucket.clone(),
            Value::Null,
            None,
            "recovery_probing",
        );
        plant(
            self,
            rng,
            37.553,
            a,
            "s3.amazonaws.com",
            "GetObjectLockConfiguration",
            bucket.clone(),
            Value::Null,
            Some((
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket".into(),
            )),
            "",
        );
        plant(
            self,
            rng,
            37.556,
            a,
            "s3.amazonaws.com",
            "GetBucketLifecycle",
            bucket,
            Value::Null,
            Some(("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist".into())),
            "",
        );
        // The flow log bucket's policy replaced by one without the log delivery service's grant.
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"OwnerOnly","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:*","Resource":["arn:aws:s3:::a1-flowlogs-archive","arn:aws:s3:::a1-flowlogs-archive/*"]}]}"#;
        plant(
            self,
            rng,
            24.92,
            &cast.netadmin,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            json!({"bucketName": "a1-flowlogs-archive", "bucketPolicy": policy, "Host": "a1-flowlogs-archive.s3.amazonaws.com"}),
            Value::Null,
            None,
            "logging_change_then_delivery_failures",
        );
        for ev in &mut self.events[before..] {
            ev.own_file = true;
        }
    }

    /// The contractor's security-group work in account B on the second evening: a new group
    /// opened to SSH from the world and an interface moved into it, then WinRM opened on the
    /// Windows group and closed again by its rule id nine minutes later. Planted in files of
    /// their own from a stream of their own, so every other file stays as it was.
    pub(super) fn security_group_story(&mut self, rng: &mut Rng, cast: &Cast) {
        let before = self.events.len();
        let c = &cast.contractor;
        let group = "sg-0b10000000000maint";
        let calls: Vec<(f64, &str, Value, Value, &str)> = vec![
            (
                40.0,
                "CreateSecurityGroup",
                json!({"groupName": "maint-temp", "groupDescription": "temporary maintenance access", "vpcId": "vpc-0b1000000000000003"}),
                json!({"requestId": rng.uuid(), "_return": true, "groupId": group}),
                "",
            ),
            (
                40.02,
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "maintenance"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
                json!({"requestId": rng.uuid(), "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT_B,
                    "groupId": group, "securityGroupRuleId": "sgr-0b1000000000maint1", "description": "maintenance", "isEgress": false,
                    "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}}),
                "",
            ),
            (
                40.1,
                "ModifyNetworkInterfaceAttribute",
                json!({"networkInterfaceId": "eni-0b1f000000000000b2",
                    "groupSet": {"items": [{"groupId": "sg-0b100000000000001"}, {"groupId": group}]}}),
                json!({"requestId": rng.uuid(), "_return": true}),
                "security_group_opened_then_interface_moved",
            ),
            (
                41.0,
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-0b100000000000001", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 5985, "toPort": 5986,
                    "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
                json!({"requestId": rng.uuid(), "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT_B,
                    "groupId": "sg-0b100000000000001", "securityGroupRuleId": "sgr-0b10000000winrm01", "isEgress": false,
                    "ipProtocol": "tcp", "fromPort": 5985, "toPort": 5986, "cidrIpv4": "0.0.0.0/0"}]}}),
                "",
            ),
            (
                41.15,
                "RevokeSecurityGroupIngress",
                json!({"groupId": "sg-0b100000000000001", "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-0b10000000winrm01"}]}}),
                json!({"requestId": rng.uuid(), "_return": true}),
                "security_group_rule_opened_briefly",
            ),
        ];
        for (hour, name, req, resp, scenario) in calls {
            let ev = ct_event(rng, at(hour), "eu-west-1", c, "ec2.amazonaws.com", name, req, resp, None, false);
            let id = ev.value["eventID"].as_str().unwrap_or_default().to_string();
            if !scenario.is_empty() {
                self.other
                    .push(json!({"scenario": scenario, "event_id": id, "actor_arn": c.arn, "time": iso(at(hour))}));
            }
            self.events.push(ev);
        }
        for ev in &mut self.events[before..] {
            ev.own_file = true;
        }
    }
}
