//! A small WGSL preprocessor: a file names what it needs with `#import other.wgsl` lines,
//! and a kernel's module is its root file after everything it imports, each file once, in
//! dependency order. So which shader needs which is written in the shaders themselves.
//!
//! A swap replaces one file by another wherever it is imported (the same functions, built
//! another way: `lane_sum.wgsl` by `lane_sum_subgroup.wgsl`). Generated files (the
//! energy's code, `kernels::codegen`) are given by name and text and imported like the
//! others.

include!(concat!(env!("OUT_DIR"), "/shader_files.rs"));

/// The line prefix of an import.
const IMPORT: &str = "#import ";

/// The name and text of the shader file `name`, if the crate has one.
fn lookup(name: &str) -> Option<(&'static str, &'static str)> {
    SHADER_FILES.iter().find(|(n, _)| *n == name).copied()
}

/// The name and text of file `name`: a generated one, else the crate's.
fn find<'g>(name: &str, generated: &'g [(&str, String)]) -> Option<(String, &'g str)>
where
    'static: 'g,
{
    if let Some((n, text)) = generated.iter().find(|(n, _)| *n == name) {
        return Some((n.to_string(), text.as_str()));
    }
    lookup(name).map(|(n, text)| (n.to_string(), text))
}

/// The files `text` imports, in order, with their line numbers (from 1).
pub(crate) fn imports(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, line.trim().strip_prefix(IMPORT)?.trim())))
}

/// The module of `root`: every file it imports (transitively, each once, a file's imports
/// before it), then `root` itself, with the import lines turned into comments. `swaps`
/// replace a file by another wherever it is imported; `generated` files are found by name
/// before the crate's. An error names the file and line of an import that names no shader,
/// or the cycle an import closes.
pub(crate) fn assemble(
    root: &str,
    swaps: &[(&str, &str)],
    generated: &[(&str, String)],
) -> Result<String, String> {
    let mut walk = Walk {
        swaps,
        generated,
        path: Vec::new(),
        done: Vec::new(),
        out: String::new(),
    };
    walk.visit(root, None)?;
    Ok(walk.out)
}

/// A depth-first walk of the imports.
struct Walk<'s> {
    swaps: &'s [(&'s str, &'s str)],
    generated: &'s [(&'s str, String)],
    /// The files being visited, root first.
    path: Vec<String>,
    /// The files already written.
    done: Vec<String>,
    out: String,
}

impl Walk<'_> {
    /// Writes `name` after its imports; `from` is the importing file and line.
    fn visit(&mut self, name: &str, from: Option<(&str, usize)>) -> Result<(), String> {
        let name = self
            .swaps
            .iter()
            .find(|(old, _)| *old == name)
            .map_or(name, |(_, new)| *new);
        let (name, text) = find(name, self.generated).ok_or_else(|| match from {
            Some((parent, line)) => format!(
                "shaders/{parent} line {line}: imports {name}, which is not a file of shaders/"
            ),
            None => format!("{name} is not a file of shaders/"),
        })?;
        if self.done.contains(&name) {
            return Ok(());
        }
        if self.path.contains(&name) {
            return Err(format!(
                "shaders/{}: its imports form a cycle: {} -> {name}",
                self.path[self.path.len() - 1],
                self.path.join(" -> ")
            ));
        }
        self.path.push(name.clone());
        for (line, import) in imports(text) {
            self.visit(import, Some((&name, line)))?;
        }
        self.path.pop();
        self.out.push_str(&format!("// ---- {name}\n"));
        for line in text.lines() {
            if line.trim().starts_with(IMPORT) {
                self.out.push_str("// ");
            }
            self.out.push_str(line);
            self.out.push('\n');
        }
        self.done.push(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty stand-ins for the generated files (the ordering does not depend on them).
    fn generated() -> Vec<(&'static str, String)> {
        [
            "energy_tile.wgsl",
            "energy_chain.wgsl",
            "energy_train.wgsl",
            "energy_layered.wgsl",
        ]
        .into_iter()
        .map(|n| (n, String::new()))
        .collect()
    }

    #[test]
    fn every_file_comes_once_after_its_imports() {
        for (root, _) in SHADER_FILES {
            let module = assemble(root, &[], &generated()).unwrap();
            let order: Vec<&str> = module
                .lines()
                .filter_map(|l| l.strip_prefix("// ---- "))
                .collect();
            assert_eq!(order.last(), Some(root));
            for (i, name) in order.iter().enumerate() {
                assert!(!order[i + 1..].contains(name), "{root}: {name} twice");
                let Some((_, text)) = lookup(name) else {
                    continue;
                };
                for (_, import) in imports(text) {
                    let at = order.iter().position(|n| *n == import).unwrap();
                    assert!(at < i, "{root}: {name} before its import {import}");
                }
            }
        }
    }

    #[test]
    fn a_swap_replaces_a_file_wherever_it_is_imported() {
        let module = assemble(
            "tile.wgsl",
            &[("lane_sum.wgsl", "lane_sum_subgroup.wgsl")],
            &generated(),
        )
        .unwrap();
        assert!(module.contains("// ---- lane_sum_subgroup.wgsl"));
        assert!(!module.contains("// ---- lane_sum.wgsl"));
    }

    #[test]
    fn unknown_files_are_named() {
        let err = assemble("nothing.wgsl", &[], &[]).unwrap_err();
        assert!(err.contains("nothing.wgsl"), "{err}");
        let err =
            assemble("tile.wgsl", &[("lane_sum.wgsl", "gone.wgsl")], &generated()).unwrap_err();
        assert!(
            err.contains("gone.wgsl") && err.contains("shaders/tile.wgsl"),
            "{err}"
        );
    }
}
