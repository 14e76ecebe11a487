#!/usr/bin/env python3
"""An independent reference for trailflow's Sigma compiler: Sigma detection rules evaluated in
Python, record by record, straight from the Sigma specification (v2: fields and dotted paths
through lists, wildcards and escapes, modifiers, keywords, conditions), over the CloudTrail
records of a lake, and compared rule by rule, event id for event id, with what
`trailflow hunt run --sigma` wrote.

    python3 benches/sigma_reference.py LAKE RULE-DIR [RULE-DIR ...]

Needs PyYAML and the `trailflow` binary (TRAILFLOW, else target/debug/trailflow). Correlation
rules are left out (their windows are checked in tests/hunts.rs). Exit status 1 when any rule
differs, with the differing event ids.
"""

import base64
import csv
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

TRAILFLOW = os.environ.get("TRAILFLOW", "target/debug/trailflow")


def records(lake):
    out = subprocess.run(
        [TRAILFLOW, "sql", "--lake", lake, "--format", "ndjson", "SELECT event_id, raw FROM cloudtrail"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        row = json.loads(line)
        yield row["event_id"], row["raw"], json.loads(row["raw"])


def values_at(doc, keys):
    """Every value at the dotted path, lists followed element by element."""
    if isinstance(doc, list):
        for item in doc:
            yield from values_at(item, keys)
        return
    if not keys:
        yield doc
        return
    if isinstance(doc, dict) and keys[0] in doc:
        yield from values_at(doc[keys[0]], keys[1:])


def as_text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def wildcard_regex(value, contains=False, start=False, end=False):
    """A Sigma value as a regular expression: `*`, `?` wildcards, `\\` escaping only them and
    itself."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    body = "".join(out)
    if contains:
        body = ".*" + body + ".*"
    elif start:
        body = body + ".*"
    elif end:
        body = ".*" + body
    return body


def field_matcher(key, value):
    name, *mods = key.split("|")
    keys = name.split(".")
    cased = "cased" in mods
    want_all = "all" in mods
    values = value if isinstance(value, list) else [value]
    forms = []
    for v in values:
        v = None if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
        vs = [v]
        if v is not None and "base64" in mods:
            vs = [base64.b64encode(v.encode()).decode()]
        if v is not None and "base64offset" in mods:
            vs = []
            for shift in range(3):
                enc = base64.b64encode(b" " * shift + v.encode()).decode()
                start = [0, 2, 3][shift]
                end = len(enc) - [0, 3, 2][(len(v) + shift) % 3]
                vs.append(enc[start:max(end, start)])
        if v is not None and "windash" in mods:
            vs = sorted({v.replace("-", d) for d in ["-", "/", "\u2013", "\u2014", "\u2015"]})
        forms.append(vs)
    if "base64" in mods or "base64offset" in mods:
        cased = True

    def one(event, v):
        found = list(values_at(event, keys))
        texts = [t for t in (as_text(x) for x in found) if t is not None]
        if v is None:
            return all(x is None for x in found)
        if "exists" in mods:
            return (len([x for x in found if x is not None]) > 0) == (v.lower() == "true")
        if "fieldref" in mods:
            other = [as_text(x) for x in values_at(event, v.split("."))]
            return any((a == b) if cased else (a.lower() == (b or "").lower()) for a in texts for b in other if b is not None)
        if "re" in mods:
            flags = (re.I if "i" in mods else 0) | (re.M if "m" in mods else 0) | (re.S if "s" in mods else 0)
            return any(re.search(v, t, flags) for t in texts)
        if "cidr" in mods:
            net = ipaddress.ip_network(v, strict=False)
            out = False
            for t in texts:
                try:
                    out |= ipaddress.ip_address(t) in net
                except ValueError:
                    pass
            return out
        for op, fn in (("gt", lambda a, b: a > b), ("gte", lambda a, b: a >= b), ("lt", lambda a, b: a < b), ("lte", lambda a, b: a <= b)):
            if op in mods:
                out = False
                for t in texts:
                    try:
                        out |= fn(float(t), float(v))
                    except ValueError:
                        pass
                return out
        rx = wildcard_regex(v, contains="contains" in mods, start="startswith" in mods, end="endswith" in mods)
        flags = re.S | (0 if cased else re.I)
        return any(re.fullmatch(rx, t, flags) for t in texts)

    def match(event):
        per = [any(one(event, f) for f in vs) for vs in forms]
        return all(per) if want_all else any(per)

    return match


def selection_matcher(sel):
    if isinstance(sel, dict):
        fields = [field_matcher(k, v) for k, v in sel.items()]
        return lambda e, raw: all(f(e) for f in fields)
    if isinstance(sel, list) and all(isinstance(x, dict) for x in sel):
        subs = [selection_matcher(x) for x in sel]
        return lambda e, raw: any(s(e, raw) for s in subs)
    words = sel if isinstance(sel, list) else [sel]
    rxs = [re.compile(wildcard_regex(str(w), contains=True), re.I | re.S) for w in words]
    # Keywords: anywhere in the whole record's text.
    return lambda e, raw: any(r.fullmatch(raw) for r in rxs)


def condition_matcher(cond, sels):
    tokens = cond.replace("(", " ( ").replace(")", " ) ").split()
    pos = [0]

    def peek():
        return tokens[pos[0]] if pos[0] < len(tokens) else None

    def take():
        pos[0] += 1
        return tokens[pos[0] - 1]

    def p_or():
        left = p_and()
        while peek() and peek().lower() == "or":
            take()
            right = p_and()
            left = (lambda a, b: lambda e, r: a(e, r) or b(e, r))(left, right)
        return left

    def p_and():
        left = p_not()
        while peek() and peek().lower() == "and":
            take()
            right = p_not()
            left = (lambda a, b: lambda e, r: a(e, r) and b(e, r))(left, right)
        return left

    def p_not():
        if peek() and peek().lower() == "not":
            take()
            inner = p_not()
            return lambda e, r: not inner(e, r)
        return atom()

    def atom():
        t = take()
        if t == "(":
            inner = p_or()
            take()
            return inner
        if t in ("1", "all", "any") and peek() == "of":
            take()
            pat = take()
            names = [n for n in sels if pat == "them" or (pat.endswith("*") and n.startswith(pat[:-1])) or n == pat]
            chosen = [sels[n] for n in names]
            if t == "all":
                return lambda e, r: all(s(e, r) for s in chosen)
            return lambda e, r: any(s(e, r) for s in chosen)
        return sels[t]

    return p_or()


def rules_in(paths):
    for base in paths:
        files = [base] if os.path.isfile(base) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs if f.endswith((".yml", ".yaml")))
        for f in files:
            docs = [d for d in yaml.safe_load_all(open(f)) if isinstance(d, dict)]
            plain = [d for d in docs if "detection" in d]
            if not plain or any("correlation" in d for d in docs):
                continue
            ls = plain[0].get("logsource", {})
            if ls.get("product") != "aws" or ls.get("service") != "cloudtrail":
                continue
            for n, d in enumerate(plain):
                stem = os.path.splitext(os.path.basename(f))[0]
                yield (stem if len(plain) == 1 else f"{stem}-{d.get('name', n)}"), f, d


def main():
    lake, dirs = sys.argv[1], sys.argv[2:]
    events = list(records(lake))
    differ = 0
    compared = 0
    for name, path, rule in rules_in(dirs):
        det = dict(rule["detection"])
        cond = det.pop("condition")
        if isinstance(cond, list):
            cond = " or ".join(f"({c})" for c in cond)
        sels = {k: selection_matcher(v) for k, v in det.items() if k != "timeframe"}
        match = condition_matcher(cond, sels)
        want = sorted({i for i, raw, e in events if match(e, raw)})
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([TRAILFLOW, "hunt", "run", "--sigma", path, "--lake", lake, "-o", out], capture_output=True)
            got_file = os.path.join(out, os.path.basename(os.path.splitext(path)[0]) + ".csv")
            rows = list(csv.DictReader(open(got_file))) if os.path.exists(got_file) else None
            summary = os.path.join(out, "sigma_summary.csv")
            status = [r["status"] for r in csv.DictReader(open(summary))] if os.path.exists(summary) else []
            if rows is None and any(st.startswith("not run") for st in status):
                # A rule trailflow says it does not compile (a modifier for binary text, ...).
                print(f"skip   {name}: {status[0]}")
                continue
            if rows and "event_id" not in rows[0]:
                print(f"skip   {name}: its output names no events")
                continue
            got = None if rows is None else sorted({r["event_id"] for r in rows})
        compared += 1
        if got != want:
            differ += 1
            print(f"DIFFER {name}: reference {len(want)}, trailflow {None if got is None else len(got)}")
            if got is not None:
                print("  only in the reference:", sorted(set(want) - set(got))[:5])
                print("  only in trailflow:", sorted(set(got) - set(want))[:5])
        else:
            print(f"same   {name}: {len(want)} events")
    print(f"{compared} rules compared over {len(events)} events: {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
