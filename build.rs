//! Link the programs as position-dependent executables on Linux x86-64.
//!
//! A position-independent build of trailflow carries about 230,000 relocations that the dynamic
//! loader applies at every start (several milliseconds, a large share of a short `trailflow sql`
//! run). Linked at a fixed address, the linker resolves them once, at build time. Only the link
//! of this package's programs changes; libraries and tests are untouched.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && arch == "x86_64" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
