//! Dependencies point toward the pure core: `cairn-core` knows no storage, async
//! runtime, HTTP or terminal; only `cairn-store` knows RocksDB.

use std::process::Command;

fn cargo_tree(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn names(tree: &str) -> Vec<String> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn cairn_core_does_no_io_dependencies() {
    let deps = names(&cargo_tree(&["-p", "cairn-core"]));
    for banned in [
        "rocksdb",
        "librocksdb-sys",
        "tokio",
        "axum",
        "hyper",
        "zstd",
        "clap",
        "indicatif",
        "getrandom",
        "rand",
    ] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "cairn-core must not depend on {banned}: {deps:?}"
        );
    }
}

#[test]
fn only_cairn_store_knows_rocksdb() {
    let direct = names(&cargo_tree(&[
        "--workspace",
        "-i",
        "rocksdb",
        "--depth",
        "1",
    ]));
    let dependents: Vec<_> = direct.iter().filter(|n| n.as_str() != "rocksdb").collect();
    assert_eq!(dependents, ["cairn-store"], "direct dependents of rocksdb");
}

#[test]
fn the_store_knows_no_async_runtime_or_http() {
    let deps = names(&cargo_tree(&["-p", "cairn-store"]));
    for banned in ["tokio", "axum", "hyper", "clap"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "cairn-store must not depend on {banned}"
        );
    }
}

#[test]
fn only_cairn_archive_knows_object_storage() {
    let direct = names(&cargo_tree(&[
        "--workspace",
        "-i",
        "object_store",
        "--depth",
        "1",
    ]));
    let dependents: Vec<_> = direct
        .iter()
        .filter(|n| n.as_str() != "object_store")
        .collect();
    assert_eq!(
        dependents,
        ["cairn-archive"],
        "direct dependents of object_store"
    );
}
