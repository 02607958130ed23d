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
fn the_front_documents_stay_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, limit) in [("README.md", 12_000), ("ARCHITECTURE.md", 15_000)] {
        let size = std::fs::metadata(root.join(file)).unwrap().len();
        assert!(
            size <= limit,
            "{file} is {size} bytes; keep it within {limit}"
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

/// The top-level module a file of `src/` belongs to (`src/api/cases/mod.rs` → `api`,
/// `src/model.rs` → `model`); none for the crate root and the binary.
fn top_module(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root.join("src")).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The top-level modules a file names through `crate::…` outside comments (in `use` lines,
/// grouped `use crate::{a, b::c}` lines and paths in code alike).
fn named_modules(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut in_group = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        if in_group {
            let group = code.trim_start();
            if let Some(name) = group
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                && !name.is_empty()
            {
                out.insert(name.to_string());
            }
            if code.contains("};") {
                in_group = false;
            }
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                in_group = !group.contains('}');
                for item in group.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Every circle of imports between the top-level modules of `src/`, each as the path that
/// closes it (`a -> b -> a`).
fn module_circles() -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = files(&["src"]);
    let modules: BTreeSet<String> = files.iter().filter_map(|p| top_module(root, p)).collect();
    for path in &files {
        let Some(module) = top_module(root, path) else {
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for named in named_modules(&text) {
            if named != module && modules.contains(&named) {
                edges.insert(named);
            }
        }
    }
    // A depth-first search from each module: an edge back to a module on the current path
    // closes a circle.
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut BTreeSet<String>,
    ) {
        let here = path.last().unwrap().clone();
        for next in graph.get(&here).into_iter().flatten() {
            if let Some(at) = path.iter().position(|m| m == next) {
                let mut circle = path[at..].to_vec();
                // The same circle found from another start reads the same.
                let start = circle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| *m)
                    .map_or(0, |(i, _)| i);
                circle.rotate_left(start);
                let first = circle[0].clone();
                circle.push(first);
                circles.insert(circle.join(" -> "));
            } else if !done.contains(next) {
                path.push(next.clone());
                walk(graph, path, done, circles);
                path.pop();
            }
        }
        done.insert(here);
    }
    let mut circles = BTreeSet::new();
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if !done.contains(module) {
            walk(&graph, &mut vec![module.clone()], &mut done, &mut circles);
        }
    }
    circles.into_iter().collect()
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let circles = module_circles();
    assert!(
        circles.is_empty(),
        "modules of src/ import each other in circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_finder_sees_grouped_and_inline_paths() {
    let text = "use crate::{api::x, model};\nfn f() { crate::store::g(); } // crate::audit\n";
    let named: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(named, ["api", "model", "store"]);
    let multi = "use crate::{\n    index::Index,\n    auth::Key,\n};\n";
    let named: Vec<String> = named_modules(multi).into_iter().collect();
    assert_eq!(named, ["auth", "index"]);
}

#[test]
fn no_handler_touches_the_store() {
    for path in files(&["src/api"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !code.contains(".store.") && !code.contains("store()"),
                "{}:{}: a handler reaches the store directly; call a use case of the registry",
                path.display(),
                number + 1
            );
        }
    }
}

#[test]
fn every_operation_of_the_openapi_document_is_in_the_api_reference() {
    use utoipa::OpenApi;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let document = siteban::api::ApiDoc::openapi();
    let mut operations = 0;
    for (path, item) in &document.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                operations += 1;
                let operation = format!("{method} {path}");
                assert!(
                    reference.contains(&operation),
                    "docs/api.md does not document `{operation}`, which /openapi.json serves"
                );
            }
        }
    }
    assert!(operations > 40, "only {operations} operations were read");
}
