//! Build steps: list the saved hunts of `queries/` for the binary, and link the programs as
//! position-dependent executables on Linux x86-64.
//!
//! The hunts: every `queries/*.sql` file except `correlate.sql` and `correlate_sg.sql` (the correlation, run by
//! `trailflow correlate`) is built into the binary, so `trailflow hunt` works from any folder.
//!
//! A position-independent build of trailflow carries about 230,000 relocations that the dynamic
//! loader applies at every start (several milliseconds, a large share of a short `trailflow sql`
//! run). Linked at a fixed address, the linker resolves them once, at build time. Only the link
//! of this package's programs changes; libraries and tests are untouched.
fn main() {
    write_hunt_list();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && arch == "x86_64" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// `$OUT_DIR/hunts.rs`: `&[(file name, contents), ...]`, sorted by file name.
fn write_hunt_list() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("queries");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("queries/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "sql")
                && p.file_name().is_some_and(|n| n != "correlate.sql" && n != "correlate_sg.sql")
        })
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file").to_string_lossy();
        out.push_str(&format!("    ({name:?}, include_str!({:?})),\n", f.display().to_string()));
    }
    out.push_str("]\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("hunts.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
