//! House rules, enforced by `cargo test`: every source file opens with a `//!` line saying what
//! it owns, every module is named in ARCHITECTURE.md, and no placeholder or debugging macro,
//! ignored test or `println!` reaches the service code.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in dirs {
        let dir = root.join(dir);
        if dir.exists() {
            rust_files(&dir, &mut out);
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_says_what_it_owns() {
    for path in files(&["src", "tests", "benches", "examples"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! line saying what it owns",
            path.display()
        );
    }
}

#[test]
fn every_module_appears_in_the_architecture_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for path in files(&["src"]) {
        let relative = path.strip_prefix(root).unwrap().display().to_string();
        if relative.ends_with("/tests.rs") {
            continue;
        }
        assert!(
            architecture.contains(&format!("`{relative}`")),
            "ARCHITECTURE.md does not mention `{relative}`"
        );
    }
}

#[test]
fn no_placeholders_or_debugging_leftovers() {
    let forbidden = [
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
        concat!("dbg", "!("),
        concat!("#[", "ignore"),
    ];
    for path in files(&["src", "tests", "benches", "examples"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for word in forbidden {
            assert!(!text.contains(word), "{} contains {word}", path.display());
        }
    }
    for path in files(&["src"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for word in [concat!("println", "!("), concat!("eprintln", "!(")] {
            assert!(
                !text.contains(word),
                "{} prints with {word}; the service logs through tracing",
                path.display()
            );
        }
    }
}
