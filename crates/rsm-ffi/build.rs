//! Links `librsm.so` with the version script `librsm.map` (exactly the 42 RSMAPI functions
//! are exported, everything else is local) and the soname `librsm.so.2`
//! of Solaris.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let map = std::path::Path::new(&dir).join("librsm.map");
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", map.display());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librsm.so.2");
    }
}
