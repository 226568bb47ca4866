//! Path checks done before any work: an output that cannot be written, or that would
//! overwrite one of the inputs, is refused at once rather than after a long run.

use std::path::{Path, PathBuf};

use ebm::{Error, Result};

/// Refuses an output path that cannot be written, before any work is done: a missing
/// folder found after a long run would lose it.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::config(
            flag,
            format!("{} is a folder; give a file name", path.display()),
        ));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(Error::config(
            flag,
            format!(
                "cannot write {}: the folder {} does not exist",
                path.display(),
                folder.display()
            ),
        ));
    }
    // Write access, tried with a file of our own: the output itself is only written once
    // the run has succeeded.
    let probe = folder.join(format!(".ebm-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::config(
            flag,
            format!(
                "cannot write {}: the folder {} is not writable ({e})",
                path.display(),
                folder.display()
            ),
        )),
    }
}

/// Refuses the output path of `flag` if it is one of `inputs`: nothing a user gave is
/// overwritten.
pub fn check_not_input(flag: &'static str, out: &Path, inputs: &[&Path]) -> Result<()> {
    let resolve = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
    };
    let target = resolve(out);
    if inputs.iter().any(|input| resolve(input) == target) {
        return Err(Error::config(
            flag,
            format!(
                "{} is also an input; choose another output path",
                out.display()
            ),
        ));
    }
    Ok(())
}

/// Both checks of an output path: writable, and none of the inputs.
pub fn check_output(flag: &'static str, out: &Path, inputs: &[&Path]) -> Result<()> {
    check_writable(flag, out)?;
    check_not_input(flag, out, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_checked_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.npy");
        std::fs::write(&input, b"x").unwrap();
        let out = dir.path().join("out.safetensors");
        check_output("--out", &out, &[&input]).unwrap();
        assert!(!out.exists(), "the check wrote the output");
        let err = check_output("--out", &input, &[&input]).unwrap_err();
        assert!(err.to_string().contains("is also an input"), "{err}");
        // The same file by another spelling.
        let other = dir.path().join(".").join("in.npy");
        assert!(check_not_input("--out", &other, &[&input]).is_err());
        let err = check_writable("--out", dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        let err = check_writable("--out", &dir.path().join("no/out.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
