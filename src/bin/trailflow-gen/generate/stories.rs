//! The stories a case file must tell beyond the network changes: the intruder's hold on the
//! account's identities (`Planted::identity_story`, in episodes that share a [`Story`]); the
//! stories added later are in `late_stories`. Each is drawn from a random stream of its own, so
//! that the events planted before it keep their ids.

use serde_json::{Value, json};

use super::scenarios::*;
use super::*;

/// The key the attacker makes for the user they create, and where it is used from.
const NEW_KEY: &str = "AKIA1111SVCBACKUP009";
const NEW_KEY_IP: &str = "192.0.2.200";
/// An account outside the evidence that the attacker lets into the account.
const OUTSIDE_ACCOUNT: &str = "999988887777";
/// The bucket a flow log is configured to deliver to, and cannot.
const UNDELIVERED_BUCKET: &str = "a1-flowlogs-archive";

/// What the identity story's episodes share: the attacker, the user they create, the account's
/// root, the policy and the trust they write, the network admin, and the refusal they meet.
struct Story<'c> {
    a: &'c Actor,
    new_user: Actor,
    root: Actor,
    policy: &'static str,
    trust: String,
    n: &'c Actor,
    denied: fn() -> Option<(&'static str, String)>,
}

/// Plant one call of the identity story; a named scenario is recorded as a hunt's true positive.
#[allow(clippy::too_many_arguments)]
pub(super) fn plant(
    p: &mut Planted,
    rng: &mut Rng,
    hour: f64,
    actor: &Actor,
    source: &str,
    name: &str,
    req: Value,
    resp: Value,
    error: Option<(&str, String)>,
    scenario: &str,
) {
    let read_only = name.starts_with("List") || name.starts_with("Get") || name.starts_with("Describe");
    let mut ev = ct_event(rng, at(hour), "us-east-1", actor, source, name, req, resp, error, read_only);
    if actor.key.is_empty()
        && let Some(ident) = ev.value["userIdentity"].as_object_mut()
    {
        ident.remove("accessKeyId");
    }
    let id = ev.value["eventID"].as_str().unwrap_or_default().to_string();
    if !scenario.is_empty() {
        p.other.push(json!({"scenario": scenario, "event_id": id, "actor_arn": actor.arn, "source_ip": actor.ip, "time": iso(at(hour))}));
    }
    p.events.push(ev);
}

impl Planted {
    /// How dev-temp takes hold of account A before the network changes of the second day: it
    /// enumerates what its key may do, grants itself every right, makes a user with a key (used
    /// from another address two minutes later) and a console password, opens a role to an outside
    /// account, reads secrets and user data, runs a command on the database, pushes a serial
    /// console key, shares a snapshot, opens a bucket, schedules a key's deletion; the root user
    /// is guessed at from the attacker's address and signs in without MFA. All the while a flow
    /// log that is configured cannot deliver to its bucket. Each step is a true positive of a hunt
    /// (`other_planted`, scenario = the hunt's name).
    pub(super) fn identity_story(&mut self, rng: &mut Rng, cast: &Cast) {
        let a = &cast.attacker;
        let new_user = iam_user(
            ACCT_A,
            "svc-backup",
            NEW_KEY,
            NEW_KEY_IP,
            "Boto3/1.34.10 md/Botocore#1.34.10 ua/2.0 os/linux#6.5 lang/python#3.12.1 Botocore/1.34.10",
        );
        let root = Actor {
            arn: format!("arn:aws:iam::{ACCT_A}:root"),
            kind: "Root",
            name: None,
            principal: ACCT_A.into(),
            account: ACCT_A,
            key: String::new(),
            ip: a.ip.clone(),
            ua: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0".into(),
            issuer: None,
        };
        let denied = || Some(("AccessDenied", "User is not authorized to perform this action".to_string()));
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        let s = Story { a, new_user, root, policy, trust, n: &cast.netadmin, denied };
        self.story_enumeration(rng, cast, &s);
        self.story_two_minutes_later(rng, cast, &s);
        self.story_root_and_credentials(rng, cast, &s);
        self.story_housekeeping(rng, cast, &s);
        self.story_hold(rng, cast, &s);
        self.story_persistence(rng, cast, &s);
        self.story_routine_and_watchers(rng, cast, &s);
    }

    fn story_enumeration(&mut self, rng: &mut Rng, _cast: &Cast, s: &Story<'_>) {
        let (a, new_user, policy, denied) = (s.a, &s.new_user, s.policy, s.denied);
        // 12:00-12:06 on the second day: what may this key do?
        let enumeration: [(&str, &str, bool); 13] = [
            ("sts.amazonaws.com", "GetCallerIdentity", false),
            ("iam.amazonaws.com", "ListUsers", false),
            ("iam.amazonaws.com", "ListRoles", false),
            ("iam.amazonaws.com", "ListPolicies", false),
            ("iam.amazonaws.com", "ListGroups", false),
            ("iam.amazonaws.com", "GetAccountAuthorizationDetails", true),
            ("iam.amazonaws.com", "ListAttachedUserPolicies", false),
            ("iam.amazonaws.com", "ListUserPolicies", false),
            ("iam.amazonaws.com", "GetUser", false),
            ("iam.amazonaws.com", "ListAccessKeys", true),
            ("s3.amazonaws.com", "ListBuckets", false),
            ("ec2.amazonaws.com", "DescribeInstances", false),
            ("secretsmanager.amazonaws.com", "ListSecrets", true),
        ];
        for (i, (source, name, refused)) in enumeration.iter().enumerate() {
            let scenario = if i == 0 { "iam_enumeration_burst" } else { "" };
            plant(
                self,
                rng,
                36.0 + i as f64 * 0.008,
                a,
                source,
                name,
                json!({}),
                Value::Null,
                if *refused { denied() } else { None },
                scenario,
            );
        }
        plant(
            self,
            rng,
            36.2,
            a,
            "iam.amazonaws.com",
            "PutUserPolicy",
            json!({"userName": "dev-temp", "policyName": "ops-admin", "policyDocument": policy}),
            Value::Null,
            None,
            "admin_policy_granted",
        );
        plant(
            self,
            rng,
            36.25,
            a,
            "iam.amazonaws.com",
            "CreateUser",
            json!({"userName": "svc-backup"}),
            json!({"user": {"userName": "svc-backup", "userId": "AIDA1111SVCBACKUP009", "arn": new_user.arn, "path": "/", "createDate": "Mar 11, 2026 12:15:00 PM"}}),
            None,
            "iam_user_created",
        );
        plant(
            self,
            rng,
            36.26,
            a,
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({"userName": "svc-backup"}),
            json!({"accessKey": {"userName": "svc-backup", "accessKeyId": NEW_KEY, "status": "Active", "createDate": "Mar 11, 2026 12:15:36 PM"}}),
            None,
            "access_key_created",
        );
    }

    fn story_two_minutes_later(&mut self, rng: &mut Rng, _cast: &Cast, s: &Story<'_>) {
        let (a, new_user, trust) = (s.a, &s.new_user, &s.trust);
        // Two minutes later, from another address.
        plant(self, rng, 36.293, new_user, "sts.amazonaws.com", "GetCallerIdentity", json!({}), Value::Null, None, "");
        plant(
            self,
            rng,
            36.3,
            a,
            "iam.amazonaws.com",
            "CreateLoginProfile",
            json!({"userName": "svc-backup", "passwordResetRequired": false}),
            json!({"loginProfile": {"userName": "svc-backup", "createDate": "Mar 11, 2026 12:18:00 PM", "passwordResetRequired": false}}),
            None,
            "login_profile_changed",
        );
        plant(
            self,
            rng,
            36.35,
            a,
            "iam.amazonaws.com",
            "UpdateAssumeRolePolicy",
            json!({"roleName": "ops-automation", "policyDocument": trust}),
            Value::Null,
            None,
            "role_trust_opened",
        );
        // A minute later the outside account uses the trust.
        let outsider = Actor {
            arn: String::new(),
            kind: "AWSAccount",
            name: None,
            principal: "AIDA9999OUTSIDE00001".into(),
            account: OUTSIDE_ACCOUNT,
            key: String::new(),
            ip: "198.51.100.99".into(),
            ua: "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0 exe/x86_64".into(),
            issuer: None,
        };
        plant(
            self,
            rng,
            36.37,
            &outsider,
            "sts.amazonaws.com",
            "AssumeRole",
            json!({"roleArn": format!("arn:aws:iam::{ACCT_A}:role/ops-automation"), "roleSessionName": "maintenance", "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": "ASIA1111OUTSIDE00077", "expiration": "Mar 11, 2026 1:22:12 PM"}, "assumedRoleUser": {"assumedRoleId": "AROA1111OPSAUTOMATE7:maintenance", "arn": format!("arn:aws:sts::{ACCT_A}:assumed-role/ops-automation/maintenance")}}),
            None,
            "role_assumed_from_outside",
        );
        if let Some(last) = self.events.last_mut() {
            last.value["userIdentity"] =
                json!({"type": "AWSAccount", "principalId": "AIDA9999OUTSIDE00001", "accountId": OUTSIDE_ACCOUNT});
            last.value["recipientAccountId"] = json!(ACCT_A);
            last.account = ACCT_A;
        }
        for (i, secret) in ["prod/db/master-password", "prod/payments/api-key", "prod/ssh/deploy-key", "prod/ldap/bind"]
            .iter()
            .enumerate()
        {
            let scenario = if i == 0 { "secrets_read" } else { "" };
            plant(
                self,
                rng,
                36.4 + i as f64 * 0.01,
                new_user,
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                json!({"secretId": secret}),
                Value::Null,
                None,
                scenario,
            );
        }
        plant(
            self,
            rng,
            36.5,
            new_user,
            "ec2.amazonaws.com",
            "DescribeInstanceAttribute",
            json!({"instanceId": "i-0a10000000000web1", "attribute": "userData"}),
            Value::Null,
            None,
            "instance_user_data_read",
        );
        plant(
            self,
            rng,
            36.55,
            new_user,
            "ssm.amazonaws.com",
            "SendCommand",
            json!({"documentName": "AWS-RunShellScript", "instanceIds": ["i-0a100000000000db1"], "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
            json!({"command": {"commandId": "5f0c2e6b-1d1e-4b6f-9b1a-0a1000000001", "documentName": "AWS-RunShellScript", "status": "Pending"}}),
            None,
            "ssm_remote_commands",
        );
        plant(
            self,
            rng,
            37.0,
            a,
            "ec2.amazonaws.com",
            "EnableSerialConsoleAccess",
            json!({}),
            json!({"serialConsoleAccessEnabled": true}),
            None,
            "serial_console_access",
        );
        plant(
            self,
            rng,
            37.02,
            a,
            "ec2-instance-connect.amazonaws.com",
            "SendSerialConsoleSSHPublicKey",
            json!({"instanceId": "i-0a100000000000db1", "serialPort": 0, "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPLANTEDKEY"}),
            json!({"success": true}),
            None,
            "",
        );
        plant(
            self,
            rng,
            37.1,
            a,
            "ec2.amazonaws.com",
            "ModifySnapshotAttribute",
            json!({"snapshotId": "snap-0a1000000000db01", "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE_ACCOUNT}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"}),
            json!({"_return": true}),
            None,
            "snapshot_or_image_shared",
        );
        let bucket_policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"pub","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::a1-backups/*"}]}"#;
        plant(
            self,
            rng,
            37.15,
            a,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            json!({"bucketName": "a1-backups", "Host": "a1-backups.s3.amazonaws.com", "policy": "", "bucketPolicy": serde_json::from_str::<Value>(bucket_policy).unwrap_or(Value::Null)}),
            Value::Null,
            None,
            "s3_bucket_made_public",
        );
        plant(
            self,
            rng,
            37.2,
            a,
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            json!({"keyId": "arn:aws:kms:us-east-1:111111111111:key/0a1b2c3d-0000-4000-8000-00000000db01", "pendingWindowInDays": 7}),
            json!({"keyId": "arn:aws:kms:us-east-1:111111111111:key/0a1b2c3d-0000-4000-8000-00000000db01", "keyState": "PendingDeletion", "pendingWindowInDays": 7}),
            None,
            "kms_key_deletion",
        );
    }

    fn story_root_and_credentials(&mut self, rng: &mut Rng, cast: &Cast, s: &Story<'_>) {
        let (a, root) = (s.a, &s.root);
        // 13:18-13:21: the root password guessed from the attacker's address, then a sign-in without MFA.
        let console = |ok: bool| json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }});
        let login_data = json!({"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true", "MobileVersion": "No", "MFAUsed": "No"});
        for i in 0..4 {
            let ok = i == 3;
            let scenario = match i {
                0 => "failed_console_logins",
                3 => "console_login_without_mfa",
                _ => "",
            };
            plant(
                self,
                rng,
                37.3 + i as f64 * 0.015,
                root,
                "signin.amazonaws.com",
                "ConsoleLogin",
                Value::Null,
                console(ok),
                None,
                scenario,
            );
            let last = self.events.last_mut().expect("just planted");
            last.value["eventType"] = json!("AwsConsoleSignIn");
            last.value["readOnly"] = json!(false);
            last.value["additionalEventData"] = login_data.clone();
            last.value["responseElements"] = console(ok);
            if !ok {
                last.value["errorMessage"] = json!("Failed authentication");
            }
        }
        plant(
            self,
            rng,
            37.4,
            root,
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({}),
            json!({"accessKey": {"accessKeyId": "AKIA1111ROOTKEY00001", "status": "Active", "createDate": "Mar 11, 2026 1:24:00 PM"}}),
            None,
            "root_activity",
        );
        // The database instance's role credentials, read from its metadata service, used from
        // the new user's address; and netadmin's own key used from the attacker's.
        let mut db_elsewhere = cast.db_role.clone();
        db_elsewhere.ip = NEW_KEY_IP.into();
        db_elsewhere.ua = "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0 exe/x86_64".into();
        plant(
            self,
            rng,
            38.0,
            &db_elsewhere,
            "sts.amazonaws.com",
            "GetCallerIdentity",
            json!({}),
            Value::Null,
            None,
            "instance_credentials_elsewhere",
        );
        plant(self, rng, 38.02, &db_elsewhere, "s3.amazonaws.com", "ListBuckets", json!({}), Value::Null, None, "");
        let mut netadmin_elsewhere = cast.netadmin.clone();
        netadmin_elsewhere.ip = a.ip.clone();
        plant(
            self,
            rng,
            38.2,
            &netadmin_elsewhere,
            "ec2.amazonaws.com",
            "DescribeNetworkAcls",
            json!({}),
            Value::Null,
            None,
            "new_source_ip_for_principal",
        );
        plant(
            self,
            rng,
            38.21,
            &netadmin_elsewhere,
            "s3.amazonaws.com",
            "ListBuckets",
            json!({}),
            Value::Null,
            None,
            "",
        );
    }

    fn story_housekeeping(&mut self, rng: &mut Rng, _cast: &Cast, s: &Story<'_>) {
        let n = s.n;
        // Housekeeping the trail hunt must leave alone: a data-events trail set up with its
        // selectors, and a trail widened to every region.
        let trail_arn = format!("arn:aws:cloudtrail:us-east-1:{ACCT_A}:trail/s3-data-audit");
        plant(
            self,
            rng,
            12.0,
            n,
            "cloudtrail.amazonaws.com",
            "CreateTrail",
            json!({"name": "s3-data-audit", "s3BucketName": "a1-cloudtrail-data", "isMultiRegionTrail": false}),
            json!({"name": "s3-data-audit", "trailARN": trail_arn, "s3BucketName": "a1-cloudtrail-data"}),
            None,
            "trail_set_up",
        );
        plant(
            self,
            rng,
            12.001,
            n,
            "cloudtrail.amazonaws.com",
            "PutEventSelectors",
            json!({"trailName": "s3-data-audit", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false, "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::a1-backups/"]}], "excludeManagementEventSources": []}]}),
            json!({"trailARN": trail_arn}),
            None,
            "trail_set_up_selectors",
        );
        plant(
            self,
            rng,
            12.002,
            n,
            "cloudtrail.amazonaws.com",
            "StartLogging",
            json!({"name": "s3-data-audit"}),
            Value::Null,
            None,
            "",
        );
        plant(
            self,
            rng,
            12.1,
            n,
            "cloudtrail.amazonaws.com",
            "UpdateTrail",
            json!({"name": "management-events", "isMultiRegionTrail": true, "includeGlobalServiceEvents": true}),
            json!({"name": "management-events", "isMultiRegionTrail": true}),
            None,
            "trail_widened",
        );
    }

    fn story_hold(&mut self, rng: &mut Rng, _cast: &Cast, s: &Story<'_>) {
        let (a, new_user) = (s.a, &s.new_user);
        // More of dev-temp's hold: the new user put in the administrators' group, the bucket
        // copied out, a key pair for later instances, alice's MFA removed, an instance started in
        // a region nobody uses, and a call with another tool.
        plant(
            self,
            rng,
            36.27,
            a,
            "iam.amazonaws.com",
            "AddUserToGroup",
            json!({"userName": "svc-backup", "groupName": "Admins"}),
            Value::Null,
            None,
            "user_added_to_group",
        );
        for i in 0..25 {
            let key = format!("backups/2026-03-0{}/db-dump-{i:02}.sql.gz", 1 + i % 9);
            plant(
                self,
                rng,
                36.6 + i as f64 * 0.002,
                new_user,
                "s3.amazonaws.com",
                "GetObject",
                json!({"bucketName": "a1-backups", "key": key, "Host": "a1-backups.s3.amazonaws.com"}),
                Value::Null,
                None,
                if i == 0 { "s3_bulk_download" } else { "" },
            );
            let last = self.events.last_mut().expect("just planted");
            last.value["eventCategory"] = json!("Data");
            last.value["managementEvent"] = json!(false);
            last.value["resources"] = json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::a1-backups/{key}")}, {"accountId": ACCT_A, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::a1-backups"}]);
        }
        plant(
            self,
            rng,
            37.85,
            a,
            "ec2.amazonaws.com",
            "ImportKeyPair",
            json!({"keyName": "ops-maint", "publicKeyMaterial": "<sensitiveDataRemoved>"}),
            json!({"keyName": "ops-maint", "keyFingerprint": "1f:51:ae:28:bf:89:e9:d8:1f:25:5d:37:2d:7d:b8:ca", "keyPairId": "key-0a1000000000maint"}),
            None,
            "ssh_key_imported",
        );
        plant(
            self,
            rng,
            37.8,
            a,
            "iam.amazonaws.com",
            "DeactivateMFADevice",
            json!({"userName": "alice", "serialNumber": format!("arn:aws:iam::{ACCT_A}:mfa/alice")}),
            Value::Null,
            None,
            "mfa_device_removed",
        );
        plant(
            self,
            rng,
            37.9,
            a,
            "ec2.amazonaws.com",
            "RunInstances",
            json!({"instancesSet": {"items": [{"imageId": "ami-0c1a7f89451184c8b", "minCount": 4, "maxCount": 4}]}, "instanceType": "g5.12xlarge", "keyName": "ops-maint"}),
            json!({"instancesSet": {"items": [{"instanceId": "i-0aps0000000000001", "instanceType": "g5.12xlarge"}]}}),
            None,
            "new_region_for_principal",
        );
        if let Some(last) = self.events.last_mut() {
            last.region = "ap-southeast-2";
            last.value["awsRegion"] = json!("ap-southeast-2");
        }
        let mut other_tool = a.clone();
        other_tool.ua = "python-requests/2.31.0".into();
        plant(
            self,
            rng,
            37.95,
            &other_tool,
            "s3.amazonaws.com",
            "ListBuckets",
            json!({}),
            Value::Null,
            None,
            "new_user_agent_for_principal",
        );
    }

    fn story_persistence(&mut self, rng: &mut Rng, _cast: &Cast, s: &Story<'_>) {
        let (a, new_user) = (s.a, &s.new_user);
        // Persistence and impact beyond IAM users: a managed policy's new default version, a
        // federation token, a Roles Anywhere trust anchor, a Lambda function opened to anyone,
        // Windows passwords fetched, model access bought, logs deleted, the backups deleted, and
        // the intern locked out.
        let everything = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        plant(
            self,
            rng,
            36.22,
            a,
            "iam.amazonaws.com",
            "CreatePolicyVersion",
            json!({"policyArn": format!("arn:aws:iam::{ACCT_A}:policy/ops-readonly"), "policyDocument": everything, "setAsDefault": true}),
            json!({"policyVersion": {"versionId": "v4", "isDefaultVersion": true}}),
            None,
            "policy_version_switched",
        );
        plant(
            self,
            rng,
            36.45,
            new_user,
            "sts.amazonaws.com",
            "GetFederationToken",
            json!({"name": "svc", "durationSeconds": 129600, "policy": everything}),
            json!({"federatedUser": {"federatedUserId": format!("{ACCT_A}:svc"), "arn": format!("arn:aws:sts::{ACCT_A}:federated-user/svc")}}),
            None,
            "federation_token_issued",
        );
        for i in 0..3 {
            let instance = ["i-0a100000000win001", "i-0a100000000win002", "i-0a100000000win003"][i];
            plant(
                self,
                rng,
                36.52 + i as f64 * 0.003,
                new_user,
                "ec2.amazonaws.com",
                "GetPasswordData",
                json!({"instanceId": instance}),
                Value::Null,
                if i == 0 {
                    None
                } else {
                    Some((
                        "Client.UnauthorizedOperation",
                        "You are not authorized to perform this operation.".to_string(),
                    ))
                },
                if i == 0 { "password_data_retrieved" } else { "" },
            );
        }
        plant(
            self,
            rng,
            37.05,
            a,
            "lambda.amazonaws.com",
            "AddPermission20150331v2",
            json!({"functionName": "billing-export", "statementId": "public-invoke", "action": "lambda:InvokeFunction", "principal": "*"}),
            json!({"statement": "{\"Sid\":\"public-invoke\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\"}"}),
            None,
            "lambda_backdoor",
        );
        plant(
            self,
            rng,
            37.06,
            a,
            "rolesanywhere.amazonaws.com",
            "CreateTrustAnchor",
            json!({"name": "partner-ca", "enabled": true, "source": {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"}}}),
            json!({"trustAnchor": {"name": "partner-ca", "trustAnchorId": "0a1b2c3d-4e5f-4000-8000-0000000000ca"}}),
            None,
            "rolesanywhere_trust_anchor",
        );
        plant(
            self,
            rng,
            37.25,
            a,
            "logs.amazonaws.com",
            "DeleteLogGroup",
            json!({"logGroupName": "/aws/vpc/flow-logs-a1"}),
            Value::Null,
            None,
            "dns_and_log_groups_deleted",
        );
        plant(
            self,
            rng,
            37.5,
            new_user,
            "bedrock.amazonaws.com",
            "PutUseCaseForModelAccess",
            json!({"formData": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
            Value::Null,
            None,
            "model_access_enabled",
        );
        for i in 0..3 {
            plant(
                self,
                rng,
                37.51 + i as f64 * 0.002,
                new_user,
                "bedrock.amazonaws.com",
                "InvokeModel",
                json!({"modelId": "anthropic.claude-3-sonnet-20240229-v1:0"}),
                Value::Null,
                None,
                "",
            );
            if let Some(last) = self.events.last_mut() {
                last.value["eventCategory"] = json!("Data");
                last.value["managementEvent"] = json!(false);
            }
        }
        for i in 0..22 {
            let key = format!("backups/2026-03-0{}/db-dump-{i:02}.sql.gz", 1 + i % 9);
            plant(
                self,
                rng,
                37.7 + i as f64 * 0.002,
                new_user,
                "s3.amazonaws.com",
                "DeleteObject",
                json!({"bucketName": "a1-backups", "key": key, "Host": "a1-backups.s3.amazonaws.com"}),
                Value::Null,
                None,
                if i == 0 { "s3_mass_deletion" } else { "" },
            );
            let last = self.events.last_mut().expect("just planted");
            last.value["eventCategory"] = json!("Data");
            last.value["managementEvent"] = json!(false);
        }
        plant(
            self,
            rng,
            37.96,
            a,
            "iam.amazonaws.com",
            "UpdateAccessKey",
            json!({"userName": "intern", "accessKeyId": "AKIA1111INTERN000007", "status": "Inactive"}),
            Value::Null,
            None,
            "account_access_removed",
        );
        plant(
            self,
            rng,
            37.97,
            a,
            "iam.amazonaws.com",
            "DeleteLoginProfile",
            json!({"userName": "intern"}),
            Value::Null,
            None,
            "",
        );
    }

    fn story_routine_and_watchers(&mut self, rng: &mut Rng, cast: &Cast, s: &Story<'_>) {
        let (a, new_user, root) = (s.a, &s.new_user, &s.root);
        // The deployment role the automation assumes every two hours, and then the new user.
        let deployer = format!("arn:aws:iam::{ACCT_A}:role/ci-deployer");
        let assume = |session: &str| json!({"roleArn": deployer, "roleSessionName": session, "durationSeconds": 3600});
        let assumed = |rid: &str| json!({"credentials": {"accessKeyId": format!("ASIA1111DEPLOY{rid}"), "expiration": "Mar 11, 2026 2:00:00 PM"}, "assumedRoleUser": {"arn": format!("arn:aws:sts::{ACCT_A}:assumed-role/ci-deployer/deploy")}});
        for k in 0..17 {
            plant(
                self,
                rng,
                1.5 + k as f64 * 2.0,
                &cast.automation,
                "sts.amazonaws.com",
                "AssumeRole",
                assume("deploy"),
                assumed(&format!("{k:06}")),
                None,
                "",
            );
        }
        plant(
            self,
            rng,
            37.35,
            new_user,
            "sts.amazonaws.com",
            "AssumeRole",
            assume("svc"),
            assumed("SVC001"),
            None,
            "role_assumed_by_new_principal",
        );
        // On the first morning the account owner, as root, sets up an audit trail and looks
        // around: expected, and no finding of the root hunt.
        let mut owner = root.clone();
        owner.ip = "198.18.10.4".into();
        let audit_arn = format!("arn:aws:cloudtrail:us-east-1:{ACCT_A}:trail/org-audit");
        plant(
            self,
            rng,
            0.3,
            &owner,
            "cloudtrail.amazonaws.com",
            "CreateTrail",
            json!({"name": "org-audit", "s3BucketName": "a1-org-audit", "isMultiRegionTrail": true}),
            json!({"name": "org-audit", "trailARN": audit_arn, "isMultiRegionTrail": true}),
            None,
            "root_trail_set_up",
        );
        plant(
            self,
            rng,
            0.301,
            &owner,
            "cloudtrail.amazonaws.com",
            "StartLogging",
            json!({"name": audit_arn}),
            Value::Null,
            None,
            "",
        );
        plant(self, rng, 0.31, &owner, "ec2.amazonaws.com", "DescribeRegions", json!({}), Value::Null, None, "");
        // The watchers switched off: Config's recorder stopped, GuardDuty disabled, and an attempt
        // to take the account out of its organization, refused.
        plant(
            self,
            rng,
            37.42,
            a,
            "config.amazonaws.com",
            "StopConfigurationRecorder",
            json!({"configurationRecorderName": "default"}),
            Value::Null,
            None,
            "security_services_disabled",
        );
        plant(
            self,
            rng,
            37.43,
            a,
            "guardduty.amazonaws.com",
            "UpdateDetector",
            json!({"detectorId": "0ab1c2d3e4f5a6b7c8d9e0f1a2b3c4d5", "enable": false}),
            Value::Null,
            None,
            "",
        );
        plant(
            self,
            rng,
            37.44,
            a,
            "organizations.amazonaws.com",
            "LeaveOrganization",
            json!({}),
            Value::Null,
            Some(("AccessDeniedException", "You don't have permissions to access this resource.".to_string())),
            "",
        );
        // A flow log that is configured but cannot deliver: its bucket policy refuses the service.
        let delivery = Actor {
            arn: String::new(),
            kind: "AWSService",
            name: None,
            principal: String::new(),
            account: ACCT_A,
            key: String::new(),
            ip: "delivery.logs.amazonaws.com".into(),
            ua: "delivery.logs.amazonaws.com".into(),
            issuer: None,
        };
        for n in 0..12 {
            let hour = 1.0 + n as f64 * 4.0;
            let key = format!(
                "AWSLogs/{ACCT_A}/vpcflowlogs/us-east-1/2026/03/{:02}/{ACCT_A}_vpcflowlogs_us-east-1_fl-0a1000000000arch_{n:04}.log.gz",
                10 + (hour as i64) / 24
            );
            plant(
                self,
                rng,
                hour,
                &delivery,
                "s3.amazonaws.com",
                "PutObject",
                json!({"bucketName": UNDELIVERED_BUCKET, "key": key, "x-amz-acl": "bucket-owner-full-control", "Host": format!("{UNDELIVERED_BUCKET}.s3.amazonaws.com")}),
                Value::Null,
                Some(("AccessDenied", "Access Denied".to_string())),
                if n == 0 { "flow_log_delivery_failures" } else { "" },
            );
            let last = self.events.last_mut().expect("just planted");
            last.value["userIdentity"] = json!({"type": "AWSService", "invokedBy": "delivery.logs.amazonaws.com"});
            last.value["eventCategory"] = json!("Data");
            last.value["managementEvent"] = json!(false);
            last.value["readOnly"] = json!(false);
            last.value["resources"] = json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{UNDELIVERED_BUCKET}/{key}")}, {"accountId": ACCT_A, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{UNDELIVERED_BUCKET}")}]);
        }
    }
}
