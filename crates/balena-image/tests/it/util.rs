use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs a tool, failing the test with a clear message if it is missing or fails.
pub fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{tool} is required for this test ({e}); install it with: apt-get install {}",
                package_of(tool)
            )
        });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a tool with stdin from a string.
pub fn run_stdin(tool: &str, args: &[&str], input: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{tool} is required for this test ({e}); install it with: apt-get install {}",
                package_of(tool)
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn package_of(tool: &str) -> &'static str {
    match tool {
        "sfdisk" => "fdisk",
        "sgdisk" => "gdisk",
        "mkfs.vfat" | "fsck.fat" => "dosfstools",
        "mcopy" | "mtype" | "mmd" | "mdir" => "mtools",
        "mkfs.ext4" => "e2fsprogs",
        "unzip" => "unzip",
        "bsdtar" => "libarchive-tools",
        "zip" => "zip",
        "pigz" => "pigz",
        _ => "gzip",
    }
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn sparse_file(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

/// `image@@offset` for mtools.
pub fn mimg(path: &Path, offset: u64) -> String {
    format!("{}@@{}", path.display(), offset)
}

/// Copies bytes [start, start+len) of `img` into a new file and runs
/// `fsck.fat -n` on it.
pub fn fsck_partition(img: &[u8], start: u64, len: u64, dir: &Path) {
    let p = dir.join(format!("fsck-{start}.bin"));
    std::fs::write(&p, &img[start as usize..(start + len) as usize]).unwrap();
    let out = Command::new("fsck.fat")
        .args(["-n", p.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("fsck.fat is required ({e}); apt-get install dosfstools"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fsck.fat found errors:\n{text}");
    std::fs::remove_file(p).unwrap();
}
