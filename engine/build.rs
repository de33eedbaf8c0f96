//! Embeds every SDL file under `schema/graphql/` into the binary, so the served
//! contract always matches the resolvers compiled next to it and adding a file
//! needs no code change.

use std::path::Path;

fn main() {
    // Read at run time, not baked in when the script was compiled: a build
    // script binary can be reused for another checkout of the same workspace.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("../schema/graphql");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("schema/graphql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "graphql"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    (\"schema/graphql/{name}\", include_str!({:?})),\n",
            file.canonicalize().unwrap()
        ));
    }
    out.push_str("]\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("core_sdl.rs");
    std::fs::write(target, out).expect("write core_sdl.rs");
}
