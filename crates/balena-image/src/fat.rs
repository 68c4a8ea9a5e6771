//! A small, read-only FAT12/16/32 reader with long-file-name support.
//!
//! It finds and reads files (`/device-type.json`, `/os-release`,
//! `/config.json`), reads volume labels, and — before `fatfs` is allowed to
//! write — checks that every cluster chain `fatfs` will walk is finite and in
//! range. `fatfs` 0.3.6 follows chains without loop detection, so a cyclic
//! chain in the root directory would hang it; this module refuses such
//! volumes with [`Error::Fat`] instead. Every chain walk here is bounded by
//! the volume's cluster count.

use crate::error::{Error, Result};
use crate::io::ReadAt;

/// FAT variant, decided from the cluster count as the specification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatKind {
    /// Fewer than 4085 clusters.
    Fat12,
    /// 4085 to 65524 clusters.
    Fat16,
    /// 65525 clusters or more.
    Fat32,
}

/// Largest file this reader returns (device-type.json, os-release, ...).
pub const MAX_READ_FILE: u64 = 16 << 20;

/// The validated BIOS parameter block of a FAT volume.
#[derive(Debug, Clone)]
pub struct Bpb {
    /// Bytes per logical sector (512..=4096, power of two).
    pub bytes_per_sector: u32,
    /// Sectors per cluster (power of two, ≤ 128).
    pub sectors_per_cluster: u32,
    /// Reserved sectors before the first FAT.
    pub reserved_sectors: u32,
    /// Number of FAT copies.
    pub fats: u32,
    /// Root directory entries (FAT12/16).
    pub root_entries: u32,
    /// Total sectors of the volume.
    pub total_sectors: u32,
    /// Sectors per FAT copy.
    pub sectors_per_fat: u32,
    /// First cluster of the root directory (FAT32).
    pub root_cluster: u32,
    /// FAT variant.
    pub kind: FatKind,
    /// Number of data clusters.
    pub clusters: u32,
    /// Volume label from the extended boot record, trimmed (may be empty).
    pub label: String,
}

impl Bpb {
    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.bytes_per_sector) * u64::from(self.sectors_per_cluster)
    }
    fn fat_offset(&self) -> u64 {
        u64::from(self.reserved_sectors) * u64::from(self.bytes_per_sector)
    }
    fn root_dir_offset(&self) -> u64 {
        self.fat_offset()
            + u64::from(self.fats)
                * u64::from(self.sectors_per_fat)
                * u64::from(self.bytes_per_sector)
    }
    fn root_dir_bytes(&self) -> u64 {
        u64::from(self.root_entries) * 32
    }
    fn data_offset(&self) -> u64 {
        let root_sectors = self
            .root_dir_bytes()
            .div_ceil(u64::from(self.bytes_per_sector));
        self.root_dir_offset() + root_sectors * u64::from(self.bytes_per_sector)
    }
    /// Total size of the volume in bytes.
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.total_sectors) * u64::from(self.bytes_per_sector)
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A cheap check whether a 512-byte sector looks like a FAT boot sector
/// (used to tell a whole-disk FAT volume from an MBR).
pub fn looks_like_fat_boot_sector(s: &[u8]) -> bool {
    s.len() >= 512
        && (s[0] == 0xEB || s[0] == 0xE9)
        && s[510] == 0x55
        && s[511] == 0xAA
        && (&s[0x36..0x39] == b"FAT" || &s[0x52..0x57] == b"FAT32")
        && parse_bpb(s, u64::MAX).is_ok()
}

/// Parses and validates a FAT boot sector. `volume_len` is the size of the
/// window the volume lives in; a BPB claiming more is rejected.
pub fn parse_bpb(s: &[u8], volume_len: u64) -> Result<Bpb> {
    if s.len() < 512 {
        return Err(Error::fat("boot sector shorter than 512 bytes"));
    }
    if s[510] != 0x55 || s[511] != 0xAA {
        return Err(Error::fat("boot sector has no 55AA signature"));
    }
    let bytes_per_sector = u32::from(le16(s, 11));
    if !(512..=4096).contains(&bytes_per_sector) || !bytes_per_sector.is_power_of_two() {
        return Err(Error::fat(format!(
            "bad bytes per sector {bytes_per_sector}"
        )));
    }
    let sectors_per_cluster = u32::from(s[13]);
    if sectors_per_cluster == 0
        || !sectors_per_cluster.is_power_of_two()
        || sectors_per_cluster > 128
    {
        return Err(Error::fat(format!(
            "bad sectors per cluster {sectors_per_cluster}"
        )));
    }
    let reserved_sectors = u32::from(le16(s, 14));
    let fats = u32::from(s[16]);
    let root_entries = u32::from(le16(s, 17));
    let total16 = u32::from(le16(s, 19));
    let spf16 = u32::from(le16(s, 22));
    let total32 = le32(s, 32);
    if reserved_sectors == 0 {
        return Err(Error::fat("no reserved sectors"));
    }
    if fats == 0 || fats > 4 {
        return Err(Error::fat(format!("bad number of FATs {fats}")));
    }
    if (total16 == 0) == (total32 == 0) {
        return Err(Error::fat(
            "exactly one of the 16/32-bit sector counts must be set",
        ));
    }
    let total_sectors = if total16 != 0 { total16 } else { total32 };
    let is_fat32_layout = spf16 == 0;
    let sectors_per_fat = if is_fat32_layout { le32(s, 36) } else { spf16 };
    if sectors_per_fat == 0 {
        return Err(Error::fat("zero sectors per FAT"));
    }
    if is_fat32_layout && (root_entries != 0 || total16 != 0) {
        return Err(Error::fat(
            "FAT32 layout with FAT16 root entries or sector count",
        ));
    }
    if !is_fat32_layout && root_entries == 0 {
        return Err(Error::fat("FAT12/16 layout without root directory entries"));
    }
    if is_fat32_layout && le16(s, 42) != 0 {
        return Err(Error::fat("unknown FAT32 version"));
    }
    let bps = u64::from(bytes_per_sector);
    let volume_bytes = u64::from(total_sectors) * bps;
    if volume_bytes > volume_len {
        return Err(Error::fat(format!(
            "volume claims {volume_bytes} bytes but its partition has {volume_len}"
        )));
    }
    let root_sectors = (u64::from(root_entries) * 32).div_ceil(bps);
    let first_data =
        u64::from(reserved_sectors) + u64::from(fats) * u64::from(sectors_per_fat) + root_sectors;
    if first_data >= u64::from(total_sectors) {
        return Err(Error::fat("metadata is larger than the volume"));
    }
    let clusters =
        ((u64::from(total_sectors) - first_data) / u64::from(sectors_per_cluster)) as u32;
    let kind = if clusters < 4085 {
        FatKind::Fat12
    } else if clusters < 65525 {
        FatKind::Fat16
    } else {
        FatKind::Fat32
    };
    if (kind == FatKind::Fat32) != is_fat32_layout {
        return Err(Error::fat(format!(
            "cluster count {clusters} contradicts the {} BPB layout",
            if is_fat32_layout { "FAT32" } else { "FAT12/16" }
        )));
    }
    if kind == FatKind::Fat32 && clusters > 0x0FFF_FFF5 {
        return Err(Error::fat("too many clusters"));
    }
    let bits: u64 = match kind {
        FatKind::Fat12 => 12,
        FatKind::Fat16 => 16,
        FatKind::Fat32 => 32,
    };
    let fat_entries = u64::from(sectors_per_fat) * bps * 8 / bits;
    if fat_entries < u64::from(clusters) + 2 {
        return Err(Error::fat("FAT is too small for the cluster count"));
    }
    let mut root_cluster = 0;
    let mut label_at = 0x2B;
    let mut sig_at = 0x26;
    if kind == FatKind::Fat32 {
        root_cluster = le32(s, 44);
        if root_cluster < 2 || root_cluster >= clusters + 2 {
            return Err(Error::fat(format!(
                "root cluster {root_cluster} out of range"
            )));
        }
        let fs_info = u32::from(le16(s, 48));
        let backup = u32::from(le16(s, 50));
        if fs_info >= reserved_sectors
            || (backup != 0 && backup != 0xFFFF && backup >= reserved_sectors)
        {
            return Err(Error::fat(
                "FSInfo or backup boot sector outside the reserved area",
            ));
        }
        label_at = 0x47;
        sig_at = 0x42;
    }
    let label = if s[sig_at] == 0x29 {
        let raw = &s[label_at..label_at + 11];
        let text: String = raw.iter().map(|&b| b as char).collect();
        text.trim_end_matches([' ', '\0']).to_string()
    } else {
        String::new()
    };
    Ok(Bpb {
        bytes_per_sector,
        sectors_per_cluster,
        reserved_sectors,
        fats,
        root_entries,
        total_sectors,
        sectors_per_fat,
        root_cluster,
        kind,
        clusters,
        label,
    })
}

/// A directory entry as seen by [`FatVolume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Long name if present and valid, else the 8.3 name (`NAME.EXT`).
    pub name: String,
    /// The 8.3 name as `NAME.EXT`.
    pub short_name: String,
    /// Attribute byte.
    pub attr: u8,
    /// First cluster (0 for empty files).
    pub first_cluster: u32,
    /// File size in bytes (0 for directories).
    pub size: u32,
}

impl DirEntry {
    /// Whether the entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.attr & 0x10 != 0
    }
    fn matches(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.short_name.eq_ignore_ascii_case(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum DirLoc {
    FixedRoot,
    Chain(u32),
}

/// A FAT volume inside an image, read through [`ReadAt`].
///
/// ```
/// use balena_image::{fat::FatVolume, read_partition_table};
/// let img = balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().to_vec().unwrap();
/// let boot = read_partition_table(&img).unwrap().partitions[0].clone();
/// let vol = FatVolume::open(&img, boot.start, boot.len).unwrap();
/// assert_eq!(vol.bpb().label, "resin-boot");
/// let cfg = vol.read_file("/config.json").unwrap();
/// assert_eq!(cfg, br#"{"deviceType":"raspberrypi3","persistentLogging":false}"#);
/// ```
#[derive(Debug)]
pub struct FatVolume<R> {
    src: R,
    base: u64,
    bpb: Bpb,
}

impl<R: ReadAt> FatVolume<R> {
    /// Opens the FAT volume at `[base, base + len)` of `src`, validating
    /// its boot sector.
    pub fn open(src: R, base: u64, len: u64) -> Result<Self> {
        let mut sector = [0u8; 512];
        src.read_exact_at(base, &mut sector)?;
        let bpb = parse_bpb(&sector, len)?;
        Ok(FatVolume { src, base, bpb })
    }

    /// The validated boot-sector parameters.
    pub fn bpb(&self) -> &Bpb {
        &self.bpb
    }

    fn fat_entry(&self, cluster: u32) -> Result<u32> {
        let fat = self.base + self.bpb.fat_offset();
        Ok(match self.bpb.kind {
            FatKind::Fat12 => {
                let off = u64::from(cluster) + u64::from(cluster / 2);
                let mut b = [0u8; 2];
                self.src.read_exact_at(fat + off, &mut b)?;
                let v = u16::from_le_bytes(b);
                u32::from(if cluster & 1 == 0 { v & 0x0FFF } else { v >> 4 })
            }
            FatKind::Fat16 => {
                let mut b = [0u8; 2];
                self.src
                    .read_exact_at(fat + u64::from(cluster) * 2, &mut b)?;
                u32::from(u16::from_le_bytes(b))
            }
            FatKind::Fat32 => {
                let mut b = [0u8; 4];
                self.src
                    .read_exact_at(fat + u64::from(cluster) * 4, &mut b)?;
                u32::from_le_bytes(b) & 0x0FFF_FFFF
            }
        })
    }

    fn is_end(&self, v: u32) -> bool {
        match self.bpb.kind {
            FatKind::Fat12 => v >= 0xFF8,
            FatKind::Fat16 => v >= 0xFFF8,
            FatKind::Fat32 => v >= 0x0FFF_FFF8,
        }
    }

    /// Follows a cluster chain, failing on out-of-range links, free or bad
    /// clusters inside the chain, and loops (a chain longer than the
    /// cluster count must revisit a cluster).
    pub fn chain(&self, first: u32) -> Result<Vec<u32>> {
        let max = self.bpb.clusters + 2;
        let mut out = Vec::new();
        let mut c = first;
        loop {
            if c < 2 || c >= max {
                return Err(Error::fat(format!(
                    "cluster {c} out of range in chain from {first}"
                )));
            }
            if out.len() as u64 > u64::from(self.bpb.clusters) {
                return Err(Error::fat(format!("cluster chain from {first} loops")));
            }
            out.push(c);
            let next = self.fat_entry(c)?;
            if self.is_end(next) {
                return Ok(out);
            }
            if next < 2 {
                return Err(Error::fat(format!(
                    "chain from {first} runs into a free cluster"
                )));
            }
            c = next;
        }
    }

    /// Absolute offset (in the source) of a data cluster.
    pub(crate) fn cluster_offset(&self, cluster: u32) -> u64 {
        self.base + self.bpb.data_offset() + u64::from(cluster - 2) * self.bpb.cluster_bytes()
    }

    fn read_dir_bytes(&self, loc: DirLoc) -> Result<Vec<u8>> {
        match loc {
            DirLoc::FixedRoot => {
                let mut buf = vec![0u8; self.bpb.root_dir_bytes() as usize];
                self.src
                    .read_exact_at(self.base + self.bpb.root_dir_offset(), &mut buf)?;
                Ok(buf)
            }
            DirLoc::Chain(first) => {
                let chain = self.chain(first)?;
                let cb = self.bpb.cluster_bytes();
                // Directories bigger than 2 MiB are not FAT-legal (65536 entries).
                if chain.len() as u64 * cb > (2 << 20) + cb {
                    return Err(Error::fat("directory larger than 65536 entries"));
                }
                let mut buf = vec![0u8; chain.len() * cb as usize];
                for (i, c) in chain.iter().enumerate() {
                    let at = self.cluster_offset(*c);
                    self.src
                        .read_exact_at(at, &mut buf[i * cb as usize..(i + 1) * cb as usize])?;
                }
                Ok(buf)
            }
        }
    }

    fn root_loc(&self) -> DirLoc {
        if self.bpb.kind == FatKind::Fat32 {
            DirLoc::Chain(self.bpb.root_cluster)
        } else {
            DirLoc::FixedRoot
        }
    }

    fn list(&self, loc: DirLoc) -> Result<Vec<DirEntry>> {
        let raw = self.read_dir_bytes(loc)?;
        Ok(parse_dir(&raw, self.bpb.kind))
    }

    fn resolve_dir(&self, path: &str) -> Result<DirLoc> {
        let mut loc = self.root_loc();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let entries = self.list(loc)?;
            let e = entries
                .iter()
                .find(|e| e.matches(comp))
                .ok_or_else(|| Error::FileNotFound(path.to_string()))?;
            if !e.is_dir() {
                return Err(Error::fat(format!("{comp} is not a directory")));
            }
            loc = if e.first_cluster == 0 {
                self.root_loc()
            } else {
                DirLoc::Chain(e.first_cluster)
            };
        }
        Ok(loc)
    }

    /// Lists a directory (`"/"` or `"/system-connections"`); `.`/`..`,
    /// deleted entries and the volume label are skipped.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let loc = self.resolve_dir(path)?;
        self.list(loc)
    }

    /// Looks up a path (case-insensitive, long or short name).
    pub fn lookup(&self, path: &str) -> Result<Option<DirEntry>> {
        let (dir, name) = split_path(path);
        let loc = match self.resolve_dir(dir) {
            Ok(l) => l,
            Err(Error::FileNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(self.list(loc)?.into_iter().find(|e| e.matches(name)))
    }

    /// Reads a whole file (at most [`MAX_READ_FILE`] bytes).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let e = self
            .lookup(path)?
            .ok_or_else(|| Error::FileNotFound(path.to_string()))?;
        if e.is_dir() {
            return Err(Error::fat(format!("{path} is a directory")));
        }
        if u64::from(e.size) > MAX_READ_FILE {
            return Err(Error::fat(format!(
                "{path} is larger than {MAX_READ_FILE} bytes"
            )));
        }
        if e.size == 0 {
            return Ok(Vec::new());
        }
        let chain = self.chain(e.first_cluster)?;
        let cb = self.bpb.cluster_bytes();
        let need = u64::from(e.size).div_ceil(cb);
        if (chain.len() as u64) < need {
            return Err(Error::fat(format!(
                "{path}: cluster chain shorter than the file size"
            )));
        }
        let mut out = vec![0u8; e.size as usize];
        for (i, c) in chain.iter().take(need as usize).enumerate() {
            let start = i * cb as usize;
            let end = (start + cb as usize).min(out.len());
            self.src
                .read_exact_at(self.cluster_offset(*c), &mut out[start..end])?;
        }
        Ok(out)
    }

    /// Checks what `fatfs` will walk when writing files into `dirs`: the
    /// directories' chains and the chains of every entry directly inside
    /// them (files we may overwrite or delete, subdirectories we may open).
    pub fn check_writable(&self, dirs: &[&str]) -> Result<()> {
        for d in dirs {
            let loc = match self.resolve_dir(d) {
                Ok(l) => l,
                Err(Error::FileNotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            for e in self.list(loc)? {
                if e.first_cluster == 0 {
                    if !e.is_dir() && e.size != 0 {
                        return Err(Error::fat(format!(
                            "{}: non-empty file without clusters",
                            e.name
                        )));
                    }
                    continue;
                }
                let chain = self.chain(e.first_cluster)?;
                if !e.is_dir() {
                    let need = u64::from(e.size).div_ceil(self.bpb.cluster_bytes());
                    if (chain.len() as u64) < need {
                        return Err(Error::fat(format!(
                            "{}: cluster chain shorter than the file size",
                            e.name
                        )));
                    }
                }
            }
        }
        // FSInfo hints are range-checked by fatfs itself.
        Ok(())
    }
}

fn split_path(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

fn short_name_string(raw: &[u8], nt_flags: u8) -> String {
    let mut base: String = raw[0..8].iter().map(|&b| b as char).collect();
    let mut ext: String = raw[8..11].iter().map(|&b| b as char).collect();
    base = base.trim_end().to_string();
    ext = ext.trim_end().to_string();
    if base.starts_with('\u{5}') {
        base.replace_range(0..1, "\u{e5}");
    }
    if nt_flags & 0x08 != 0 {
        base = base.to_ascii_lowercase();
    }
    if nt_flags & 0x10 != 0 {
        ext = ext.to_ascii_lowercase();
    }
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

fn lfn_checksum(short: &[u8]) -> u8 {
    short[..11]
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

fn parse_dir(raw: &[u8], _kind: FatKind) -> Vec<DirEntry> {
    let mut out = Vec::new();
    // (sequence number expected next, checksum, collected pieces by order)
    let mut lfn: Vec<(u8, u8, [u16; 13])> = Vec::new();
    for e in raw.chunks_exact(32) {
        if e[0] == 0 {
            break;
        }
        if e[0] == 0xE5 {
            lfn.clear();
            continue;
        }
        let attr = e[11];
        if attr & 0x3F == 0x0F {
            let mut units = [0u16; 13];
            let positions = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
            for (i, p) in positions.iter().enumerate() {
                units[i] = le16(e, *p);
            }
            if e[0] & 0x40 != 0 {
                lfn.clear();
            }
            lfn.push((e[0] & 0x1F, e[13], units));
            continue;
        }
        if attr & 0x08 != 0 {
            lfn.clear();
            continue;
        }
        let short = short_name_string(&e[0..11], e[12]);
        if short == "." || short == ".." {
            lfn.clear();
            continue;
        }
        let sum = lfn_checksum(&e[0..11]);
        let long = long_name(&lfn, sum);
        lfn.clear();
        let hi = if _kind == FatKind::Fat32 {
            u32::from(le16(e, 20))
        } else {
            0
        };
        out.push(DirEntry {
            name: long.unwrap_or_else(|| short.clone()),
            short_name: short,
            attr,
            first_cluster: (hi << 16) | u32::from(le16(e, 26)),
            size: le32(e, 28),
        });
    }
    out
}

fn long_name(pieces: &[(u8, u8, [u16; 13])], sum: u8) -> Option<String> {
    if pieces.is_empty() || pieces.len() > 20 {
        return None;
    }
    // Pieces are stored last-first: orders n, n-1, ..., 1.
    let n = pieces.len();
    let mut units = Vec::with_capacity(n * 13);
    for (i, (order, s, _)) in pieces.iter().enumerate() {
        if *s != sum || usize::from(*order) != n - i {
            return None;
        }
    }
    for (_, _, u) in pieces.iter().rev() {
        units.extend_from_slice(u);
    }
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    let name = String::from_utf16(&units[..end]).ok()?;
    if name.is_empty() { None } else { Some(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_known_short_name() {
        // "CONFIG~1JSO"
        let s = *b"CONFIG~1JSO";
        let c = lfn_checksum(&s);
        // computed independently by the rotate-add definition
        let mut sum = 0u8;
        for b in s {
            sum = ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b);
        }
        assert_eq!(c, sum);
    }

    #[test]
    fn bpb_rejects_garbage() {
        assert!(parse_bpb(&[0u8; 512], 1 << 20).is_err());
        let mut s = [0u8; 512];
        s[510] = 0x55;
        s[511] = 0xAA;
        s[11] = 0x00;
        s[12] = 0x02;
        assert!(parse_bpb(&s, 1 << 20).is_err());
    }

    #[test]
    fn split_paths() {
        assert_eq!(split_path("/config.json"), ("", "config.json"));
        assert_eq!(split_path("/a/b"), ("/a", "b"));
        assert_eq!(split_path("x"), ("", "x"));
    }
}
