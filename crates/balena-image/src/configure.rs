//! Finding the boot partition and writing a [`Configuration`] into its FAT
//! file system — in place, as an overlay, or (see [`crate::parts`]) on
//! compressed parts.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use crate::config::{ConfigPartition, Configuration};
use crate::error::{Error, Result};
use crate::fat::FatVolume;
use crate::io::ReadAt;
use crate::overlay::{ConfiguredImage, Overlay, Patches};
use crate::partition::{Partition, PartitionTable, TableKind, read_partition_table};

/// Labels / GPT names that mark the partition taking `config.json`.
pub const BOOT_LABELS: [&str; 3] = ["resin-boot", "flash-boot", "balena-boot"];

/// How the boot partition was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FoundBy {
    /// Its FAT label or GPT name is one of [`BOOT_LABELS`].
    Label(String),
    /// It is the first partition holding `/device-type.json`.
    DeviceTypeJson,
    /// The device type's `configuration.config.partition`.
    Hint(ConfigPartition),
    /// The image has no partition table; the whole image is the volume.
    WholeDisk,
}

/// The partition that receives `config.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPartition {
    /// 1-based partition index; `None` for a whole-disk volume.
    pub index: Option<u32>,
    /// Byte offset of the volume in the image.
    pub start: u64,
    /// Length of the volume in bytes.
    pub len: u64,
    /// How it was found.
    pub found_by: FoundBy,
}

/// The file-system label of a partition (FAT from the boot sector, or ext2/3/4
/// from the superblock), trimmed; `None` if neither is recognised.
pub fn filesystem_label<R: ReadAt + ?Sized>(src: &R, p: &Partition) -> Option<String> {
    let mut sector = [0u8; 512];
    if src.read_exact_at(p.start, &mut sector).is_ok()
        && let Ok(bpb) = crate::fat::parse_bpb(&sector, p.len)
    {
        return Some(bpb.label);
    }
    let mut sb = [0u8; 256];
    if p.len >= 2048
        && src.read_exact_at(p.start + 1024, &mut sb).is_ok()
        && sb[0x38] == 0x53
        && sb[0x39] == 0xEF
    {
        let raw = &sb[0x78..0x88];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        return Some(String::from_utf8_lossy(&raw[..end]).trim_end().to_string());
    }
    None
}

fn is_boot_name(s: &str) -> bool {
    BOOT_LABELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()))
}

/// Chooses the partition that takes `config.json`, the way balena's tools
/// do: a partition whose GPT name or file-system label is `resin-boot`,
/// `flash-boot` or `balena-boot`; else the first partition holding
/// `/device-type.json`; else `hint` (the device type's
/// `configuration.config.partition`). Flasher images carry `flash-boot`,
/// so their outer boot partition is chosen.
///
/// ```
/// use balena_image::{find_boot_partition, FoundBy};
/// let img = balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().to_vec().unwrap();
/// let boot = find_boot_partition(&img, None).unwrap();
/// assert_eq!(boot.index, Some(1));
/// assert_eq!(boot.found_by, FoundBy::Label("resin-boot".into()));
/// ```
pub fn find_boot_partition<R: ReadAt + ?Sized>(
    src: &R,
    hint: Option<ConfigPartition>,
) -> Result<BootPartition> {
    let table = read_partition_table(src)?;
    find_boot_partition_in(src, &table, hint)
}

/// [`find_boot_partition`] for an already parsed table.
pub fn find_boot_partition_in<R: ReadAt + ?Sized>(
    src: &R,
    table: &PartitionTable,
    hint: Option<ConfigPartition>,
) -> Result<BootPartition> {
    let image_len = src.len_bytes()?;
    if table.kind == TableKind::None {
        return Ok(BootPartition {
            index: None,
            start: 0,
            len: image_len,
            found_by: FoundBy::WholeDisk,
        });
    }
    let mk = |p: &Partition, found_by| BootPartition {
        index: Some(p.index),
        start: p.start,
        len: p.len,
        found_by,
    };
    for p in &table.partitions {
        if let Some(name) = p.name.as_deref().filter(|n| is_boot_name(n)) {
            return Ok(mk(p, FoundBy::Label(name.to_string())));
        }
        if let Some(label) = filesystem_label(src, p).filter(|l| is_boot_name(l)) {
            return Ok(mk(p, FoundBy::Label(label)));
        }
    }
    for p in &table.partitions {
        if let Ok(vol) = FatVolume::open(src, p.start, p.len)
            && matches!(vol.lookup("/device-type.json"), Ok(Some(e)) if !e.is_dir())
        {
            return Ok(mk(p, FoundBy::DeviceTypeJson));
        }
    }
    if let Some(h) = hint {
        if let Some(p) = table.get(h.index()) {
            return Ok(mk(p, FoundBy::Hint(h)));
        }
        return Err(Error::NoBootPartition(format!(
            "no partition is labelled {BOOT_LABELS:?} or holds /device-type.json, and hinted partition {} does not exist",
            h.index()
        )));
    }
    Err(Error::NoBootPartition(format!(
        "no partition is labelled {BOOT_LABELS:?} or holds /device-type.json, and no hint was given"
    )))
}

/// What a configuration run did.
#[derive(Debug, Clone)]
pub struct ConfigureReport {
    /// The partition that was written.
    pub boot: BootPartition,
    /// The bytes that changed.
    pub patches: Arc<Patches>,
}

#[derive(Debug)]
struct FixedTime;

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

/// Every timestamp fatfs writes is the FAT epoch, 1980-01-01 00:00:00 (the
/// closest FAT can get to balena's "mtime 0"), so output is reproducible.
static FIXED_TIME: FixedTime = FixedTime;

pub(crate) fn fat_options() -> fatfs::FsOptions {
    fatfs::FsOptions::new()
        .time_provider(&FIXED_TIME)
        .update_accessed_date(false)
}

fn fat_err(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Io(e),
        _ => Error::Fat(e.to_string()),
    }
}

/// Writes `files` (path relative to the volume root, content) into the FAT
/// volume at `[start, start+len)` of `overlay`, overwriting in place so that
/// rewriting identical content allocates nothing (idempotence), and
/// removing stale `balena-wifi-NN` / `connection-NN` keyfiles.
///
/// Missing top-level directories are created first, in a separate mount,
/// and their `.`/`..` entries are then rewritten: fatfs 0.3.6 gives them
/// long-name entries and, on FAT32, points `..` at the root cluster instead
/// of 0, which `fsck.fat` reports as corruption.
pub(crate) fn write_files<B: ReadAt>(
    overlay: &mut Overlay<B>,
    start: u64,
    len: u64,
    files: &[(String, Vec<u8>)],
    keep_connections: &[String],
    recount_free: bool,
) -> Result<()> {
    let mut missing: Vec<String> = Vec::new();
    {
        let vol = FatVolume::open(&*overlay, start, len)?;
        vol.check_writable(&["/", "/system-connections"])?;
        for (path, _) in files {
            if let Some((dir, _)) = path.rsplit_once('/') {
                if dir.is_empty() || dir.contains('/') {
                    return Err(Error::InvalidArgument(format!("unsupported path {path:?}")));
                }
                let exists = vol.lookup(&format!("/{dir}"))?;
                match exists {
                    Some(e) if e.is_dir() => {}
                    Some(_) => {
                        return Err(Error::fat(format!("/{dir} exists and is not a directory")));
                    }
                    None => {
                        if !missing.iter().any(|m| m == dir) {
                            missing.push(dir.to_string());
                        }
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        let window = overlay.window(start, len)?;
        let fs = fatfs::FileSystem::new(window, fat_options()).map_err(fat_err)?;
        for d in &missing {
            fs.root_dir().create_dir(d).map_err(fat_err)?;
        }
        fs.unmount().map_err(fat_err)?;
        for d in &missing {
            fix_dot_entries(overlay, start, len, d)?;
        }
    }
    let window = overlay.window(start, len)?;
    let fs = fatfs::FileSystem::new(window, fat_options()).map_err(fat_err)?;
    if recount_free {
        fs.stats().map_err(fat_err)?;
    }
    {
        let root = fs.root_dir();
        for (path, data) in files {
            let mut f = root.create_file(path).map_err(fat_err)?;
            f.seek(SeekFrom::Start(0)).map_err(fat_err)?;
            f.write_all(data).map_err(fat_err)?;
            f.truncate().map_err(fat_err)?;
            f.flush().map_err(fat_err)?;
        }
        if let Ok(dir) = root.open_dir("system-connections") {
            let mut stale = Vec::new();
            for e in dir.iter() {
                let e = e.map_err(fat_err)?;
                let name = e.file_name();
                if e.is_file()
                    && is_generated_keyfile_name(&name)
                    && !keep_connections.contains(&name)
                {
                    stale.push(name);
                }
            }
            for name in stale {
                dir.remove(&name).map_err(fat_err)?;
            }
        }
    }
    fs.unmount().map_err(fat_err)?;
    Ok(())
}

/// Rewrites the first cluster of a freshly created root-level directory as
/// a plain `.` entry, a `..` entry pointing at the root (cluster 0) and
/// free slots, all stamped 1980-01-01 00:00.
fn fix_dot_entries<B: ReadAt>(
    overlay: &mut Overlay<B>,
    start: u64,
    len: u64,
    dir: &str,
) -> Result<()> {
    let (cluster, at, cluster_bytes, fat32) = {
        let vol = FatVolume::open(&*overlay, start, len)?;
        let e = vol
            .lookup(&format!("/{dir}"))?
            .ok_or_else(|| Error::fat(format!("created directory /{dir} not found")))?;
        if e.first_cluster < 2 {
            return Err(Error::fat(format!(
                "created directory /{dir} has no cluster"
            )));
        }
        (
            e.first_cluster,
            vol.cluster_offset(e.first_cluster),
            vol.bpb().cluster_bytes(),
            vol.bpb().kind == crate::fat::FatKind::Fat32,
        )
    };
    let entry = |name: &[u8; 11], c: u32| {
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(name);
        e[11] = 0x10;
        let date = 0x0021u16.to_le_bytes();
        e[16..18].copy_from_slice(&date);
        e[18..20].copy_from_slice(&date);
        if fat32 {
            e[20..22].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
        e[24..26].copy_from_slice(&date);
        e[26..28].copy_from_slice(&(c as u16).to_le_bytes());
        e
    };
    let mut buf = vec![0u8; cluster_bytes as usize];
    buf[..32].copy_from_slice(&entry(b".          ", cluster));
    buf[32..64].copy_from_slice(&entry(b"..         ", 0));
    overlay.write_at(at, &buf)?;
    Ok(())
}

fn is_generated_keyfile_name(name: &str) -> bool {
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("balena-wifi-").is_some_and(digits)
        || name.strip_prefix("connection-").is_some_and(digits)
}

/// Runs the configuration against `base` through an overlay and returns the
/// boot partition and the resulting patches, without touching `base`.
/// This is the single code path behind every configure function.
pub fn compute_patches<B: ReadAt>(base: B, cfg: &Configuration) -> Result<ConfigureReport> {
    let boot = find_boot_partition(&base, cfg.partition_hint())?;
    let mut overlay = Overlay::new(base)?;
    let net = cfg.network_files();
    let mut files = vec![("config.json".to_string(), cfg.config_json())];
    let keep: Vec<String> = net.iter().map(|(n, _)| n.clone()).collect();
    for (name, data) in net {
        files.push((format!("system-connections/{name}"), data));
    }
    write_files(&mut overlay, boot.start, boot.len, &files, &keep, false)?;
    Ok(ConfigureReport {
        boot,
        patches: Arc::new(overlay.patches()),
    })
}

/// Configures a raw image file in place. Only the partition table and the
/// boot partition's FAT metadata and written files are read; the rest of a
/// multi-GB image is never touched.
///
/// Configuring twice with the same configuration leaves the same bytes as
/// configuring once.
///
/// ```
/// use balena_image::{configure_image_file, Configuration};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rpi.img");
/// balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().write_to_path(&path).unwrap();
/// let cfg = Configuration::from_json_str(r#"{"deviceType":"raspberrypi3"}"#).unwrap()
///     .with_wifi("home", Some("password1")).unwrap();
/// let report = configure_image_file(&path, &cfg).unwrap();
/// assert_eq!(report.boot.index, Some(1));
/// ```
pub fn configure_image_file(
    path: impl AsRef<Path>,
    cfg: &Configuration,
) -> Result<ConfigureReport> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.as_ref())?;
    let report = compute_patches(&file, cfg)?;
    for (off, bytes) in report.patches.runs() {
        write_all_at(&file, *off, bytes)?;
    }
    file.sync_data()?;
    Ok(report)
}

fn write_all_at(file: &std::fs::File, off: u64, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, off)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < bytes.len() {
            done +=
                std::os::windows::fs::FileExt::seek_write(file, &bytes[done..], off + done as u64)?;
        }
        Ok(())
    }
}

/// Configures an image without copying or modifying it: returns a
/// [`ConfiguredImage`] that reads the base and splices in the changed
/// bytes, for streaming or for any byte range.
pub fn configure_overlay<B: ReadAt>(base: B, cfg: &Configuration) -> Result<ConfiguredImage<B>> {
    let report = compute_patches(&base, cfg)?;
    Ok(ConfiguredImage::new(base, report.patches)?)
}

/// Reads a file from the boot partition of an image (e.g.
/// `/device-type.json`, `/os-release`, `/config.json`).
pub fn read_boot_file<R: ReadAt + ?Sized>(
    src: &R,
    path: &str,
    hint: Option<ConfigPartition>,
) -> Result<Vec<u8>> {
    let boot = find_boot_partition(src, hint)?;
    FatVolume::open(src, boot.start, boot.len)?.read_file(path)
}

/// The OS version from `os-release` content: `VERSION` when `NAME` is
/// `balenaOS` or `Resin OS` (as balena's CLI accepts), else `None`.
///
/// ```
/// let v = balena_image::os_version_from_os_release("NAME=\"balenaOS\"\nVERSION=\"6.8.1\"\n");
/// assert_eq!(v.as_deref(), Some("6.8.1"));
/// ```
pub fn os_version_from_os_release(text: &str) -> Option<String> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "NAME" => name = Some(v),
            "VERSION" => version = Some(v),
            _ => {}
        }
    }
    match name.as_deref() {
        Some("balenaOS") | Some("Resin OS") => version.filter(|v| !v.is_empty()),
        _ => None,
    }
}
