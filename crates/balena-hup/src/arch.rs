//! CPU architecture compatibility between a host OS and an application.

/// Whether an application built for `app_arch` runs on a host OS built for
/// `os_arch` (balena-sdk's `os.isArchitectureCompatibleWith`).
///
/// Every architecture runs itself (also unknown ones, compared exactly);
/// `aarch64` also runs `armv7hf` and `rpi`, and `armv7hf` also runs `rpi`.
/// Nothing else is compatible: `amd64` does not run `i386`, and names are
/// case-sensitive.
///
/// ```
/// use balena_hup::is_architecture_compatible_with;
///
/// assert!(is_architecture_compatible_with("aarch64", "armv7hf"));
/// assert!(is_architecture_compatible_with("armv7hf", "rpi"));
/// assert!(!is_architecture_compatible_with("rpi", "armv7hf"));
/// assert!(is_architecture_compatible_with("unknown", "unknown"));
/// ```
pub fn is_architecture_compatible_with(os_arch: &str, app_arch: &str) -> bool {
    if os_arch == app_arch {
        return true;
    }
    let runs: &[&str] = match os_arch {
        "aarch64" => &["armv7hf", "rpi"],
        "armv7hf" => &["rpi"],
        _ => &[],
    };
    runs.contains(&app_arch)
}

#[cfg(test)]
mod tests {
    use super::is_architecture_compatible_with as compat;

    #[test]
    fn compatibility_table() {
        let arches = ["aarch64", "armv7hf", "rpi", "amd64", "i386", "i386-nlp"];
        for os in arches {
            for app in arches {
                let expected = os == app
                    || matches!(
                        (os, app),
                        ("aarch64", "armv7hf" | "rpi") | ("armv7hf", "rpi")
                    );
                assert_eq!(compat(os, app), expected, "{os} runs {app}");
            }
        }
    }

    #[test]
    fn exact_matching_only() {
        assert!(!compat("AARCH64", "armv7hf"));
        assert!(!compat("aarch64", "ARMV7HF"));
        assert!(compat("", ""));
        assert!(!compat("constructor", "rpi"));
        assert!(!compat("aarch64 ", "rpi"));
    }
}
