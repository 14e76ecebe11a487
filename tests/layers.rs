//! The library is a layered house: each module may use only the modules below it, so no import
//! runs back up and there is no cycle. This test reads every source file and fails, naming the
//! file and the import, when a module reaches up (or sideways, to a module of its own layer). A
//! new module must be given its layer here; `docs/architecture.md` draws the same picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may use the modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    // Foundation: the error type, then what needs nothing but it.
    &["error", "failpoint"],
    &["schema", "time", "aws", "nacl", "limits", "output", "pattern", "sql_dialect", "enrich"],
    // Reading evidence, keeping it, finding it again.
    &["decode"],
    &["lake"],
    &["search"],
    &["functions"],
    &["cluster"],
    &["ingest", "query"],
    // Making sense of it.
    &["correlate"],
    &["session"],
    &["hunt", "stats", "timeline", "ioc"],
    &["report"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a source file belongs to (`src/ingest/file.rs` -> `ingest`); `None` for the
/// crate root and the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().to_string();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules a file's code names as `crate::NAME` (comments left out: a doc link is no import).
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        modules.insert(module.clone());
        let Some(own) = layer_of(&module) else {
            problems.push(format!("{}: module `{module}` has no layer in tests/layers.rs", file.display()));
            continue;
        };
        for used in uses(&std::fs::read_to_string(file).unwrap()) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < own => {}
                Some(_) => problems.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which is not in a layer below it",
                    file.display()
                )),
                None => problems.push(format!("{}: uses `crate::{used}`, which has no layer", file.display())),
            }
        }
    }
    assert!(problems.is_empty(), "imports that run back up:\n{}", problems.join("\n"));
    // Every layer names modules that exist, so the picture stays true.
    for layer in LAYERS {
        for m in *layer {
            assert!(modules.contains(*m) || *m == "failpoint", "tests/layers.rs names `{m}`, which is no module");
        }
    }
}

/// The sibling modules a file names as `super::NAME` (or `super::{NAME, ...}`), comments left out.
fn sibling_uses(text: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("super::") {
            let after = &rest[i + "super::".len()..];
            let names: Vec<String> = match after.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').map(|p| ident(p.trim())).collect(),
                None => vec![ident(after)],
            };
            // `super::super::...` names the grandparent, not a sibling.
            out.extend(names.into_iter().filter(|n| n != "super" && siblings.contains(n)));
            rest = after;
        }
    }
    out
}

#[test]
fn no_circle_between_files_of_one_folder() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        if let Some(dir) = f.parent()
            && dir != src
        {
            folders.entry(dir.to_path_buf()).or_default().push(f);
        }
    }
    let mut circles = Vec::new();
    for (dir, files) in &folders {
        let stem = |f: &Path| f.file_stem().unwrap().to_string_lossy().to_string();
        let mut siblings: BTreeSet<String> = files.iter().map(|f| stem(f)).filter(|s| s != "mod").collect();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                siblings.insert(p.file_name().unwrap().to_string_lossy().to_string());
            }
        }
        let edges: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .filter(|f| stem(f) != "mod")
            .map(|f| {
                let mut used = sibling_uses(&std::fs::read_to_string(f).unwrap(), &siblings);
                used.remove(&stem(f));
                (stem(f), used)
            })
            .collect();
        // A circle: a file that reaches itself through its siblings.
        for start in edges.keys() {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<String> = edges[start].iter().cloned().collect();
            while let Some(n) = stack.pop() {
                if &n == start {
                    circles.push(format!("{}: {start} reaches itself through its siblings", dir.display()));
                    break;
                }
                if seen.insert(n.clone()) {
                    stack.extend(edges.get(&n).into_iter().flatten().cloned());
                }
            }
        }
    }
    assert!(circles.is_empty(), "circles between files of one folder:\n{}", circles.join("\n"));
}
