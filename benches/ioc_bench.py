#!/usr/bin/env python3
"""Indicator sweep benchmark (issue 35): `trailflow ioc` with 100,000 indicators over a lake of
about 20 million records, timed with its peak memory, beside DuckDB answering the flow-log part
(every address and network indicator's flows, either side) over its own Parquet of the same
evidence. The counts are checked against DuckDB: per address/network indicator the flows, and for
a sample of literal indicators (addresses, keys, ARNs, accounts) the CloudTrail records that hold
them anywhere as a whole value.

    python3 benches/ioc_bench.py TRAILFLOW LAKE DUCK_DIR [N]

DUCK_DIR holds flow_logs.parquet and cloudtrail.parquet (benches/duckdb_ingest.py). The indicators
mix values present in the evidence with random ones, as a threat feed does: 100,000 by default.
"""
import csv
import ipaddress
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import duckdb


def peak_run(cmd):
    t = time.time()
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.time() - t
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    if out.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, int(peak.group(1)) / 1024 if peak else float("nan")


def main():
    trailflow, lake, duck = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
    flows = f"'{duck}/flow_logs.parquet'"
    ct = f"'{duck}/cloudtrail.parquet'"
    db = duckdb.connect()
    rnd = random.Random(35)
    q = lambda s: [r[0] for r in db.sql(s).fetchall()]
    # Values of the evidence a feed may hold: outside addresses (each a few hundred flows), and
    # keys, principals, agents and calls that are rare in it. A feed does not list the estate's own
    # accounts or its everyday calls, which would match most records (and a sweep would rightly
    # write them all out).
    present_ips = [
        a
        for a in q(
            f"SELECT srcaddr FROM (SELECT srcaddr FROM {flows} USING SAMPLE 400000 ROWS) WHERE srcaddr IS NOT NULL "
            f"GROUP BY srcaddr ORDER BY hash(srcaddr) LIMIT 4000"
        )
        if ipaddress.ip_address(a).is_global
    ][:2000]
    rare = lambda col, n: q(
        f"SELECT {col} FROM {ct} WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) <= 2000 ORDER BY hash({col}) LIMIT {n}"
    )
    def is_ip(v):
        try:
            ipaddress.ip_address(v)
            return True
        except ValueError:
            return False

    present_ct_ips = [a for a in rare("source_ip", 800) if is_ip(a)][:500]
    keys = rare("access_key_id", 200)
    arns = rare("user_arn", 100)
    # Accounts of outside callers (in a principal's ARN, never the account the calls went to).
    accounts = q(
        f"SELECT split_part(user_arn, ':', 5) AS a FROM {ct} WHERE user_arn LIKE 'arn:aws:%' GROUP BY 1 "
        f"HAVING a NOT IN (SELECT DISTINCT recipient_account_id FROM {ct} WHERE recipient_account_id IS NOT NULL) "
        f"AND a <> '' ORDER BY 1 LIMIT 10"
    )
    agents = rare("user_agent", 5)
    events = rare("event_name", 10)
    ind = []  # (type, value)
    ind += [("ip", a) for a in present_ips + present_ct_ips]
    nets = set()
    for a in rnd.sample(present_ips, min(200, len(present_ips))):
        try:
            nets.add(str(ipaddress.ip_network(f"{a}/24", strict=False)))
        except ValueError:
            pass
    # Random indicators come from public space only, as a feed's would: a feed listing 10.0.0.0/16
    # would rightly match millions of the estate's own flows and measure the writing of them.
    def public(plen):
        while True:
            x = ipaddress.ip_network(f"{ipaddress.IPv4Address(rnd.randint(0x01000000, 0xDFFFFFFF))}/{plen}", strict=False)
            if x.is_global:
                return x

    while len(nets) < 3000:
        nets.add(str(public(rnd.randint(16, 30))))
    ind += [("cidr", x) for x in sorted(nets)]
    ind += [("ip", str(ipaddress.IPv6Address(rnd.getrandbits(128)))) for _ in range(1000)]
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    ind += [("access_key", k) for k in keys]
    ind += [("access_key", "AKIA" + "".join(rnd.choice(alnum) for _ in range(16))) for _ in range(10_000)]
    ind += [("arn", a) for a in arns]
    ind += [("arn", f"arn:aws:iam::{rnd.randint(10**11, 10**12 - 1)}:user/u{rnd.getrandbits(40):x}") for _ in range(10_000)]
    ind += [("account", a) for a in accounts]
    ind += [("account", str(rnd.randint(10**11, 10**12 - 1))) for _ in range(3000)]
    ind += [("user_agent", a) for a in agents]
    ind += [("user_agent", f"tool{rnd.getrandbits(32):x}/{rnd.randint(1, 9)}.{rnd.randint(0, 99)}") for _ in range(5000)]
    ind += [("event_name", e) for e in events]
    ind += [("event_name", "Do" + "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))) for _ in range(5000)]
    while len(ind) < n:
        ind.append(("ip", str(public(32).network_address)))
    ind = ind[:n]
    work = tempfile.mkdtemp(prefix="trailflow-ioc-bench-")
    path = os.path.join(work, "indicators.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["type", "value"])
        w.writerows(ind)
    out = os.path.join(work, "out")
    wall, peak = peak_run([trailflow, "ioc", path, "--lake", lake, "--dir", out, "--format", "csv", "-o", os.devnull, "-q"])
    print(f"trailflow ioc: {len(ind):,} indicators in {wall:.1f} s, peak {peak:,.0f} MiB")
    got = {}
    with open(os.path.join(out, "ioc_summary.csv")) as f:
        for r in csv.DictReader(f):
            line = int(r["origin"].rsplit(":", 1)[1])
            got[line - 2] = (int(r["cloudtrail_hits"]), int(r["flow_hits"]))
    # DuckDB: the flows of every IPv4 address and network indicator, either side.
    v4 = [(i, ipaddress.ip_network(v, strict=False)) for i, (t, v) in enumerate(ind) if t in ("ip", "cidr") and ":" not in v]
    db.execute("CREATE TABLE nets(i INTEGER, lo UBIGINT, plen INTEGER)")
    rows = [(i, int(x.network_address), x.prefixlen) for i, x in v4]
    db.execute("INSERT INTO nets SELECT * FROM (SELECT unnest($1) AS i, unnest($2) AS lo, unnest($3) AS plen)",
               [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]])
    to_int = lambda c: (
        f"(CAST(split_part({c}, '.', 1) AS UBIGINT) * 16777216 + CAST(split_part({c}, '.', 2) AS UBIGINT) * 65536 + "
        f"CAST(split_part({c}, '.', 3) AS UBIGINT) * 256 + CAST(split_part({c}, '.', 4) AS UBIGINT))"
    )
    sides = " UNION ALL ".join(
        f"SELECT rid, {to_int(c)} AS a FROM f WHERE {c} LIKE '%.%.%.%'" for c in ["srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr"]
    )
    # Exact and independent of trailflow's matcher: every IPv4 address of a flow (either side, and
    # the packet addresses), joined to the networks of each prefix length by equality of the
    # network part; flows counted once per indicator.
    t = time.time()
    db.execute(
        f"CREATE TEMP TABLE addrs AS WITH f AS (SELECT row_number() OVER () AS rid, srcaddr, dstaddr, pkt_srcaddr, pkt_dstaddr "
        f"FROM {flows}) {sides}"
    )
    ref = {}
    for (plen,) in db.sql("SELECT DISTINCT plen FROM nets").fetchall():
        shift = 32 - plen
        ref.update(
            db.sql(
                f"SELECT nets.i, count(DISTINCT a.rid) FROM addrs a JOIN nets ON nets.plen = {plen} "
                f"AND (a.a >> {shift}) = (nets.lo >> {shift}) GROUP BY nets.i"
            ).fetchall()
        )
    duck_s = time.time() - t
    print(f"DuckDB, the flow part only (an exact join per prefix length) ({len(v4):,} IPv4 address and network indicators): {duck_s:.1f} s")
    print(f"ratio trailflow (both sources, all {len(ind):,} indicators) / DuckDB (flows, addresses): {wall / duck_s:.2f}")
    wrong = [(i, got.get(i, (0, 0))[1], ref.get(i, 0)) for i, _ in v4 if got.get(i, (0, 0))[1] != ref.get(i, 0)]
    found = sum(1 for i, _ in v4 if ref.get(i, 0) > 0)
    print(f"flows: {len(v4) - len(wrong):,} of {len(v4):,} address indicators agree with DuckDB ({found:,} found); {len(wrong)} differ {wrong[:5]}")
    # CloudTrail: a sample of literal indicators, anywhere in the record as a whole value.
    lit = [(i, v) for i, (t, v) in enumerate(ind) if t in ("access_key", "arn", "account") or (t == "ip" and ":" not in v)]
    sample = [x for x in lit if got.get(x[0], (0, 0))[0] > 0][:60] + rnd.sample(lit, 40)
    bad = []
    for i, v in sample:
        pattern = f"(^|[^A-Za-z0-9_+=,.@/:-]){re.escape(v)}($|[^A-Za-z0-9_+=,.@/:-])"
        (c,) = db.execute(f"SELECT count(*) FROM {ct} WHERE contains(raw, ?) AND regexp_matches(raw, ?)", [v, pattern]).fetchone()
        if c != got.get(i, (0, 0))[0]:
            bad.append((v, got.get(i, (0, 0))[0], c))
    print(f"cloudtrail: {len(sample) - len(bad)} of {len(sample)} sampled literal indicators agree with DuckDB; {len(bad)} differ {bad[:5]}")


if __name__ == "__main__":
    main()
