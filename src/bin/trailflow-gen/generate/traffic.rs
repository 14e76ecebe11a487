//! The network traffic the flow logs record: every hour's routine (web clients, internet noise,
//! the internal tiers, the rarely used bastion), the agents' calls of a real estate, and the
//! traffic of the planted scenarios, each connection allowed or refused by the ACLs in force.

use super::*;

/// An hour with no flow log file for vpc-0a1 (an evidence gap).
pub(super) const FLOW_GAP_HOUR: i64 = 40;
/// An hour with no CloudTrail from account A in us-east-1 (an evidence gap).
pub(super) const CT_GAP_HOUR: i64 = 44;

/// Where the interfaces the traffic is about are in `enis()`.
pub(super) struct Ifaces {
    web1: usize,
    web2: usize,
    web3: usize,
    pub(super) bastion: usize,
    app1: usize,
    db1: usize,
    rdp: usize,
    b1: usize,
    b2: usize,
}

impl Ifaces {
    pub(super) fn of(enis: &[Eni]) -> Ifaces {
        let idx = |id: &str| enis.iter().position(|e| e.id == id).expect("known eni");
        Ifaces {
            web1: idx("eni-0a1f0000000000web1"),
            web2: idx("eni-0a1f0000000000web2"),
            web3: idx("eni-0a1f0000000000web3"),
            bastion: idx("eni-0a1f0000000bastion"),
            app1: idx("eni-0a1f0000000000app1"),
            db1: idx("eni-0a1f00000000000db1"),
            rdp: idx("eni-0a2f00000000000rdp"),
            b1: idx("eni-0b1f000000000000b1"),
            b2: idx("eni-0b1f000000000000b2"),
        }
    }
}

/// The flows of the case, as the flow logs delivered them: routine traffic every hour, the
/// planted traffic, less what the evidence gaps and the deleted flow log lost.
pub(super) fn traffic(opts: &GenOptions, enis: &[Eni], net: &Network, other: &mut Vec<Value>) -> Vec<Flow> {
    let mut fg = FlowGen { rng: Rng(opts.seed.wrapping_mul(31) ^ 0xF10F), enis, net, flows: Vec::new() };
    let ifaces = Ifaces::of(enis);
    routine_traffic(&mut fg, opts, &ifaces);
    if opts.real_count {
        agent_traffic(&mut fg, opts, &ifaces);
    }
    planted_traffic(&mut fg, opts, &ifaces, other);
    let end = T0 + opts.hours * H;
    let fl_deleted_at = at(FLOW_LOG_DELETED_HOUR);
    let mut flows = fg.flows;
    flows.retain(|f| !(enis[f.eni].vpc == "vpc-0a1000000000000001" && (f.start - T0) / H == FLOW_GAP_HOUR));
    flows.retain(|f| f.start < end && f.start >= T0);
    // Account B's flow log was deleted: its records stop with the hour of the deletion.
    flows.retain(|f| !(enis[f.eni].account == ACCT_B && f.start >= fl_deleted_at - fl_deleted_at % H + H));
    flows
}

/// Every hour: web clients and internet noise, the internal tiers, the rarely used bastion.
fn routine_traffic(fg: &mut FlowGen, opts: &GenOptions, ifaces: &Ifaces) {
    let Ifaces { web1, web2, web3, bastion, app1, db1, rdp, b1, b2 } = *ifaces;
    // A pool of web clients; most connections come from new addresses, some return.
    let clients: Vec<String> = (0..2000).map(|_| fg.rng.public_ip()).collect();
    for hour in 0..opts.hours {
        let base = T0 + hour * H;
        for &e in &[web1, web2, web3, b1, b2] {
            if fg.enis[e].since > base {
                continue;
            }
            for _ in 0..opts.web_clients_per_hour {
                let t = base + fg.rng.range(0, H);
                let peer = if fg.rng.chance(0.6) { fg.rng.public_ip() } else { fg.rng.pick(&clients).clone() };
                let port = if e == b1 || e == b2 || fg.rng.chance(0.8) { 443 } else { 80 };
                let bytes = fg.rng.range(600, 40_000);
                fg.conn(e, t, &peer, port, 6, bytes, false);
            }
            // Background internet noise: a few probes per hour, mostly rejected.
            for _ in 0..3 {
                let t = base + fg.rng.range(0, H);
                let peer = fg.rng.public_ip();
                let port = *fg.rng.pick(&[23, 445, 1433, 3389, 5900, 6379, 8080, 9200]);
                fg.conn(e, t, &peer, port, 6, 60, false);
            }
        }
        // Internal tiers: web -> app:8080, app -> db:5432, bastion -> app:22, DNS.
        for _ in 0..(opts.web_clients_per_hour / 2).max(2) {
            let t = base + fg.rng.range(0, H);
            let web = fg.enis[*fg.rng.pick(&[web1, web2])].ip;
            let b = fg.rng.range(2_000, 60_000);
            fg.conn(app1, t, web, 8080, 6, b, false);
            fg.conn(db1, t + 1, fg.enis[app1].ip, 5432, 6, b / 2, false);
        }
        if hour % 6 == 0 {
            fg.conn(app1, base + 600, fg.enis[bastion].ip, 22, 6, 9_000, false);
        }
        // The rarely used bastion: no traffic most hours.
        if hour % 3 != 0 {
            fg.nodata(bastion, base);
        }
        // Database package updates to a known mirror (allowed back in by rule 120).
        if hour % 4 == 0 {
            // Through the VPC's HTTP proxy (egress rule 100 allows 1024-65535 inside the VPC).
            fg.conn(db1, base + 300, "10.0.0.50", 3128, 6, 80_000, true);
        }
        // The other VPC: its RDP host gets a handful of known admins.
        for _ in 0..2 {
            let t = base + fg.rng.range(0, H);
            fg.conn(rdp, t, "198.18.10.21", 3389, 6, 50_000, false);
        }
    }
}

/// For `--real-count`: what an estate's instances do all the time, whatever their users do: the
/// SSM and CloudWatch agents call their regional endpoints (Amazon-owned public addresses) over
/// HTTPS every one to two minutes, so that every flow log delivers a file every interval. The
/// bastion is left out: its quiet hours are a planted NODATA run.
fn agent_traffic(fg: &mut FlowGen, opts: &GenOptions, ifaces: &Ifaces) {
    let Ifaces { web1, web2, web3, app1, db1, rdp, b1, b2, .. } = *ifaces;
    for e in [web1, web2, web3, app1, db1, rdp, b1, b2] {
        let endpoints = if fg.enis[e].account == ACCT_B {
            ["52.95.150.10", "52.95.148.7"]
        } else {
            ["52.94.225.3", "52.94.228.40"]
        };
        let mut t = T0.max(fg.enis[e].since) + fg.rng.range(0, 60);
        while t < T0 + opts.hours * H {
            let peer = *fg.rng.pick(&endpoints);
            let bytes = fg.rng.range(1_500, 9_000);
            fg.conn(e, t, peer, 443, 6, bytes, true);
            t += fg.rng.range(60, 120);
        }
    }
}

/// The traffic of the planted scenarios, and a beacon.
fn planted_traffic(fg: &mut FlowGen, opts: &GenOptions, ifaces: &Ifaces, other: &mut Vec<Value>) {
    let Ifaces { web1, web2, web3, app1, db1, rdp, .. } = *ifaces;
    let end = T0 + opts.hours * H;
    // N1: a scan with no change (web2, hour 5): low ports rejected, 80/443 accepted.
    for port in 1..=1024 {
        fg.conn(web2, at(5.0) + port / 4, "192.0.2.200", port, 6, 60, false);
    }
    other.push(json!({"scenario": "port_scan_no_change", "peer": "192.0.2.200", "interface_id": fg.enis[web2].id, "time": iso(at(5.0))}));
    // S1 traffic: SSH attempts rejected before, accepted after; then the data goes out.
    for i in 0..40 {
        fg.conn(app1, at(6.0) + i * 97, "198.51.100.23", 22, 6, 300, false);
    }
    for i in 0..300 {
        fg.conn(app1, at(10.2) + i * 7, "198.51.100.23", 22, 6, 2_400, false);
    }
    for i in 0..12 {
        fg.conn(app1, at(11.0) + i * 300, "198.51.100.23", 22, 6, 180_000_000, false);
    }
    // S2 traffic: the scanner before (rejected below 1024) and after (accepted).
    for port in (1..1024).step_by(3) {
        fg.conn(web1, at(18.0) + port, "192.0.2.77", port, 6, 60, false);
        fg.conn(web1, at(20.5) + port, "192.0.2.77", port, 6, 60, false);
    }
    for port in [22, 23, 139, 445, 873, 6379] {
        fg.conn(web1, at(21.0) + port, "192.0.2.77", port, 6, 25_000, false);
    }
    // D1's odd traffic, in the other VPC at the same time.
    for i in 0..60 {
        fg.conn(rdp, at(16.1) + i * 40, "203.0.113.99", 3389, 6, 3_000, false);
    }
    // S3: the database tries the uploader before (rejected), uploads after.
    for i in 0..5 {
        fg.conn(db1, at(24.0) + i * 600, "185.199.110.9", 443, 6, 2_000, true);
    }
    for i in 0..30 {
        fg.conn(db1, at(26.3) + i * 120, "185.199.110.9", 443, 6, 95_000_000, true);
    }
    // S4: the once-denied range.
    for i in 0..10 {
        fg.conn(web1, at(28.0) + i * 300, "45.137.21.9", 443, 6, 5_000, false);
    }
    for i in 0..80 {
        fg.conn(web1, at(30.2) + i * 45, "45.137.21.9", 443, 6, 40_000, false);
    }
    // A beacon: from hour 12 the third web server calls 203.0.113.45:443 every five minutes.
    let mut bt = at(12.0) + 17;
    while bt < end {
        let bytes = 1_200 + fg.rng.range(0, 80);
        fg.conn(web3, bt, "203.0.113.45", 443, 6, bytes, true);
        bt += 300 + fg.rng.range(-4, 5);
    }
    other.push(json!({"scenario": "beacon", "interface_id": fg.enis[web3].id, "peer": "203.0.113.45", "period_seconds": 300, "time": iso(at(12.0))}));
}
