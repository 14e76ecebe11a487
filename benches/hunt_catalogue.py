#!/usr/bin/env python3
"""Write the catalogue of built-in hunts at the end of docs/hunts.md ("## The hunts") from the
headers of queries/*.sql, so that the page lists every hunt as its file describes it.
`tests/hunts.rs` checks that the page is what this writes.

    python3 benches/hunt_catalogue.py [--check]
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def header(path):
    fields, params, key = {}, [], None
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        m = re.match(r"^\s*([a-z_0-9]+):\s*(.*)$", body)
        if m and not body.startswith("   "):
            key, value = m.group(1), m.group(2).strip()
            if key == "param":
                name, ty, default, *rest = value.split(None, 3)
                params.append([name, ty, default, rest[0] if rest else ""])
            else:
                fields[key] = value
        elif key == "description":
            fields["description"] += " " + body.strip()
        elif key == "param" and params:
            params[-1][3] += " " + body.strip()
    return fields, params


def shown(default):
    return "empty" if default == "''" else f"`{default}`"


def catalogue():
    out = ["## The hunts", ""]
    for path in sorted((ROOT / "queries").glob("*.sql")):
        if path.stem in ("correlate", "correlate_sg"):
            continue
        f, params = header(path)
        out.append(f"### `{f['name']}` ({f['severity']})")
        out.append("")
        out.append(f"**{f['title']}.** {f['description']}")
        out.append("")
        line = f"ATT&CK: {f['attack']} (renumbered: {f['attack_v19']})."
        out.append(line)
        if params:
            out.append(
                "Parameters: "
                + "; ".join(f"`{n}` ({t}, default {shown(d)}): {desc}" for n, t, d, desc in params)
                + "."
            )
        out.append("")
    return "\n".join(out)


def main():
    doc = ROOT / "docs/hunts.md"
    text = doc.read_text()
    head = text[: text.index("## The hunts")]
    new = head + catalogue()
    if "--check" in sys.argv:
        sys.exit(0 if new == text else 1)
    doc.write_text(new)


if __name__ == "__main__":
    main()
