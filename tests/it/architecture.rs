//! The house has one way through: every module of `src/` imports only from the stages before it
//! (observe → detect → decide → act → tell) and from the floor they all stand on (`model/` and
//! the plain infrastructure), never from a stage after it or from a neighbour of its own stage.
//! This test reads the imports of every source file and fails on any arrow that runs back up.

use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its floor: a module may import only from lower floors.
const FLOORS: &[(&str, u8)] = &[
    // The ground: helpers that know no record of any stage (redaction, passwords, processes).
    ("security", 0),
    ("process", 0),
    // The plain records every stage shares, and the config schema.
    ("model", 1),
    ("config", 2),
    // Where every stage tells what it does: the bus and telemetry only carry `model` records.
    ("telemetry", 3),
    ("bus", 3),
    ("store", 4),
    ("queue", 5),
    // observe
    ("checks", 6),
    ("logs", 6),
    // detect
    ("detect", 7),
    // decide
    ("incidents", 8),
    // act
    ("remedy", 9),
    // tell, reading everything
    ("reports", 10),
    ("web", 10),
    ("api", 11),
    // wiring and the command line
    ("app", 12),
    ("cli", 12),
    ("demo", 13),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The top-level modules a file names through `crate::` in its code (comments left out).
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((number + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_later_stage_or_a_neighbour() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(from) = floor(&module) else {
            upward.push(format!(
                "{}: module `{module}` has no floor in this test: add it to FLOORS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (line, target) in imports(&text) {
            if target == module {
                continue;
            }
            let to = floor(&target);
            if to.is_none_or(|to| to >= from) {
                upward.push(format!(
                    "{}:{line}: `{module}` (floor {from}) imports `{target}` (floor {})",
                    file.display(),
                    to.map_or("unknown".to_string(), |t| t.to_string())
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run back up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reader_of_imports_sees_paths_and_skips_comments() {
    let text = "use crate::model::Status;\n/// see [`crate::logs::x`]\nlet a = crate::store::ms(t); // crate::api\n";
    assert_eq!(
        imports(text),
        vec![(1, "model".to_string()), (3, "store".to_string())]
    );
}
