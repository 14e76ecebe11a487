#!/usr/bin/env python3
"""CloudTrail at AWS's real file count, from real records: a benchmark set unlike the generator's.

The records are the real, public ones under tests/data/real/cloudtrail (their provenance is in
tests/data/real/README.md): every Records-shaped file there is read, and its records are dealt
out, each with a fresh eventID and a time in its slot, into the files a multi-region trail of
ten account-regions writes over three days: a file per account-region per 5-minute slot when
there was activity, in AWS's key layout and naming. Busy account-regions deliver nearly every
slot; sparse ones skip most. The number of events a file holds varies as AWS's do (most hold a
handful, a few hundreds): 18 on average by default.

    benches/real_events.py OUT [--events-per-file 18] [--days 3] [--seed 1]

Prints the files and events written. Only the standard library is used.
"""
import argparse
import copy
import datetime
import glob
import gzip
import json
import os
import random
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "tests", "data", "real", "cloudtrail")

# (account, region, share of the 5-minute slots with activity)
ACCOUNT_REGIONS = [
    ("111111111111", "us-east-1", 1.0),
    ("111111111111", "us-west-2", 1.0),
    ("111111111111", "eu-west-1", 1.0),
    ("111111111111", "ap-southeast-2", 1.0),
    ("222222222222", "us-east-1", 1.0),
    ("222222222222", "eu-central-1", 1.0),
    ("222222222222", "eu-west-1", 1.0),
    ("333333333333", "us-east-1", 1.0),
    ("333333333333", "ap-northeast-1", 0.85),
    ("333333333333", "sa-east-1", 0.6),
]


def corpus_records():
    """Every record of the Records-shaped files of the real corpus, as parsed JSON."""
    records = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "**", "*"), recursive=True)):
        if not os.path.isfile(path):
            continue
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                doc = json.load(f)
        except (ValueError, OSError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            records.extend(r for r in doc["Records"] if isinstance(r, dict) and "eventName" in r)
    return records


def file_sizes(rng, slots, mean):
    """Events per file: most a handful, a few many (a geometric body with a heavy tail)."""
    sizes = []
    for _ in range(slots):
        if rng.random() < 0.04:
            sizes.append(rng.randint(mean * 4, mean * 12))
        else:
            sizes.append(1 + int(rng.expovariate(1.0 / max(mean * 0.65, 1))))
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--events-per-file", type=int, default=18)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    records = corpus_records()
    if not records:
        raise SystemExit(f"real_events.py: no CloudTrail records under {CORPUS}")
    start = datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc)
    slots = a.days * 24 * 12
    files = events = 0
    for account, region, busy in ACCOUNT_REGIONS:
        sizes = file_sizes(rng, slots, a.events_per_file)
        for slot, size in enumerate(sizes):
            if rng.random() > busy:
                continue
            t0 = start + datetime.timedelta(minutes=5 * slot)
            out = []
            for _ in range(size):
                r = copy.deepcopy(rng.choice(records))
                r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                t = t0 + datetime.timedelta(seconds=rng.uniform(0, 300))
                r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
                r["awsRegion"] = region
                r["recipientAccountId"] = account
                out.append(r)
            end = t0 + datetime.timedelta(minutes=5)
            key = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(16))
            folder = os.path.join(a.out, "AWSLogs", account, "CloudTrail", region, t0.strftime("%Y/%m/%d"))
            os.makedirs(folder, exist_ok=True)
            name = f"{account}_CloudTrail_{region}_{end.strftime('%Y%m%dT%H%MZ')}_{key}.json.gz"
            with gzip.open(os.path.join(folder, name), "wt", encoding="utf-8", compresslevel=6) as f:
                json.dump({"Records": out}, f, separators=(",", ":"))
            files += 1
            events += len(out)
    print(json.dumps({"files": files, "events": events, "corpus_records": len(records)}))


if __name__ == "__main__":
    main()
