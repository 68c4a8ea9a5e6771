//! Read-only partition-table parsing: MBR (with the EBR chain of logical
//! partitions) and GPT.
//!
//! Why hand-written rather than `mbrman`/`gptman`: this code runs on images
//! uploaded by strangers and on every download, it only ever *reads* tables,
//! and it must stop on loops and absurd sizes instead of allocating or
//! walking forever. Those crates are built for editing disks: they allocate
//! per declared entry count, walk EBR chains without a visited set and use
//! panicking arithmetic in places; auditing them for hostile input would
//! take longer than the ~300 lines below, which are fuzzed
//! (`fuzz/`) together with the FAT reader. Numbering follows balena's
//! `partitioninfo`: primaries by slot 1–4, logical partitions 5, 6, … in
//! chain order, GPT entries by slot + 1 (unused slots keep their number).

use crate::error::{Error, Result};
use crate::io::ReadAt;

/// MBR partition type bytes that mark an extended (EBR-chain) container.
const EXTENDED_TYPES: [u8; 3] = [0x05, 0x0F, 0x85];
/// Protective MBR type announcing a GPT.
const GPT_PROTECTIVE: u8 = 0xEE;
/// Upper bound on logical partitions followed in an EBR chain.
pub const MAX_LOGICAL_PARTITIONS: usize = 128;
/// Upper bound on the size of a GPT entry array we are willing to read.
const MAX_GPT_ARRAY_BYTES: u64 = 4 << 20;

/// Which kind of partition table an image has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableKind {
    /// DOS/MBR table (512-byte sectors), possibly with logical partitions.
    Mbr,
    /// GUID partition table with the given logical block size.
    Gpt {
        /// Logical block size in bytes (512, 1024, 2048 or 4096).
        block_size: u32,
    },
    /// No partition table: the whole image is one file system
    /// (a "superfloppy"), e.g. a bare FAT volume.
    None,
}

/// The type of a partition as recorded in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// MBR partition type byte (0x0C = FAT32 LBA, 0x83 = Linux, ...).
    Mbr(u8),
    /// GPT partition type GUID in its on-disk byte order.
    Gpt([u8; 16]),
}

/// GPT type GUID of an EFI system partition (on-disk byte order).
pub const GPT_EFI_SYSTEM: [u8; 16] = guid_bytes(0xC12A7328, 0xF81F, 0x11D2, 0xBA4B, 0x00A0C93EC93B);
/// GPT type GUID of Microsoft basic data (on-disk byte order).
pub const GPT_BASIC_DATA: [u8; 16] = guid_bytes(0xEBD0A0A2, 0xB9E5, 0x4433, 0x87C0, 0x68B6B72699C7);
/// GPT type GUID of Linux file system data (on-disk byte order).
pub const GPT_LINUX_DATA: [u8; 16] = guid_bytes(0x0FC63DAF, 0x8483, 0x4772, 0x8E79, 0x3D69D8477DE4);

/// Builds the on-disk (mixed-endian) bytes of a GUID written as
/// `d1-d2-d3-d4-d5` (d5 being the last 48 bits).
pub const fn guid_bytes(d1: u32, d2: u16, d3: u16, d4: u16, d5: u64) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    let d = d4.to_be_bytes();
    let e = d5.to_be_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], e[2], e[3], e[4], e[5], e[6],
        e[7],
    ]
}

/// One partition found in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based partition number (MBR slots 1–4, logical 5…, GPT slot + 1).
    pub index: u32,
    /// Byte offset of the first byte of the partition in the image.
    pub start: u64,
    /// Length of the partition in bytes.
    pub len: u64,
    /// Type byte or type GUID.
    pub kind: PartitionType,
    /// GPT partition name (UTF-16LE in the table); `None` for MBR.
    pub name: Option<String>,
    /// Whether this is an MBR logical partition (inside the EBR chain).
    pub logical: bool,
}

impl Partition {
    /// Offset one past the last byte of the partition.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A parsed partition table: its kind and its partitions ordered by index.
/// The extended container of an MBR is not listed (only the logical
/// partitions inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    /// MBR, GPT or none.
    pub kind: TableKind,
    /// Partitions ordered by index.
    pub partitions: Vec<Partition>,
}

impl PartitionTable {
    /// The partition with the given 1-based index.
    pub fn get(&self, index: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.index == index)
    }

    /// Partitions sorted by their start offset.
    pub fn by_start(&self) -> Vec<&Partition> {
        let mut v: Vec<&Partition> = self.partitions.iter().collect();
        v.sort_by_key(|p| (p.start, p.index));
        v
    }

    /// Checks that every partition lies inside an image of `image_len`
    /// bytes and that no two partitions overlap.
    pub fn check_layout(&self, image_len: u64) -> Result<()> {
        let sorted = self.by_start();
        let mut prev_end = 0u64;
        let mut prev_index = 0u32;
        for p in sorted {
            if p.end() > image_len {
                return Err(Error::table(format!(
                    "partition {} ends at byte {} but the image has only {} bytes (truncated image?)",
                    p.index,
                    p.end(),
                    image_len
                )));
            }
            if prev_index != 0 && p.start < prev_end {
                return Err(Error::table(format!(
                    "partitions {} and {} overlap",
                    prev_index, p.index
                )));
            }
            prev_end = p.end();
            prev_index = p.index;
        }
        Ok(())
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

struct MbrEntry {
    kind: u8,
    start_lba: u64,
    sectors: u64,
}

fn mbr_entries(sector: &[u8]) -> [MbrEntry; 4] {
    std::array::from_fn(|i| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        MbrEntry {
            kind: e[4],
            start_lba: u64::from(le32(e, 8)),
            sectors: u64::from(le32(e, 12)),
        }
    })
}

/// Reads the partition table of an image.
///
/// Returns [`TableKind::None`] with no partitions for an image that starts
/// with a FAT boot sector (whole-disk file system) or has no MBR signature.
///
/// ```
/// use balena_image::{read_partition_table, TableKind};
/// let img = balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap();
/// let table = read_partition_table(&img.to_vec().unwrap()).unwrap();
/// assert_eq!(table.kind, TableKind::Mbr);
/// assert_eq!(table.partitions.iter().map(|p| p.index).collect::<Vec<_>>(), [1, 2, 3, 5, 6]);
/// ```
pub fn read_partition_table<R: ReadAt + ?Sized>(src: &R) -> Result<PartitionTable> {
    let image_len = src.len_bytes()?;
    if image_len < 512 {
        return Err(Error::table(format!(
            "image is only {image_len} bytes, too small for a partition table"
        )));
    }
    let mut mbr = [0u8; 512];
    src.read_exact_at(0, &mut mbr)?;
    if crate::fat::looks_like_fat_boot_sector(&mbr) {
        return Ok(PartitionTable {
            kind: TableKind::None,
            partitions: Vec::new(),
        });
    }
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Ok(PartitionTable {
            kind: TableKind::None,
            partitions: Vec::new(),
        });
    }
    let entries = mbr_entries(&mbr);
    if entries.iter().any(|e| e.kind == GPT_PROTECTIVE) {
        return read_gpt(src, image_len);
    }
    read_mbr(src, &entries)
}

fn read_mbr<R: ReadAt + ?Sized>(src: &R, entries: &[MbrEntry; 4]) -> Result<PartitionTable> {
    let mut partitions = Vec::new();
    let mut extended: Option<(u64, u64)> = None;
    for (slot, e) in entries.iter().enumerate() {
        if e.kind == 0 || e.sectors == 0 {
            continue;
        }
        if e.start_lba == 0 {
            return Err(Error::table(format!(
                "MBR partition {} starts at sector 0 (over the table itself)",
                slot + 1
            )));
        }
        if EXTENDED_TYPES.contains(&e.kind) {
            if extended.is_some() {
                return Err(Error::table("more than one extended partition"));
            }
            extended = Some((e.start_lba, e.sectors));
            continue;
        }
        partitions.push(Partition {
            index: slot as u32 + 1,
            start: e.start_lba * 512,
            len: e.sectors * 512,
            kind: PartitionType::Mbr(e.kind),
            name: None,
            logical: false,
        });
    }
    if let Some((ext_start, ext_sectors)) = extended {
        read_ebr_chain(src, ext_start, ext_sectors, &mut partitions)?;
    }
    partitions.sort_by_key(|p| p.index);
    Ok(PartitionTable {
        kind: TableKind::Mbr,
        partitions,
    })
}

fn read_ebr_chain<R: ReadAt + ?Sized>(
    src: &R,
    ext_start: u64,
    ext_sectors: u64,
    out: &mut Vec<Partition>,
) -> Result<()> {
    let ext_end = ext_start + ext_sectors;
    let mut visited: Vec<u64> = Vec::new();
    let mut ebr_lba = ext_start;
    let mut index = 5u32;
    loop {
        if visited.contains(&ebr_lba) {
            return Err(Error::table(format!(
                "EBR chain loops back to sector {ebr_lba}"
            )));
        }
        if visited.len() >= MAX_LOGICAL_PARTITIONS {
            return Err(Error::table(format!(
                "EBR chain longer than {MAX_LOGICAL_PARTITIONS} entries"
            )));
        }
        if ebr_lba < ext_start || ebr_lba >= ext_end {
            return Err(Error::table(format!(
                "EBR at sector {ebr_lba} lies outside the extended partition"
            )));
        }
        visited.push(ebr_lba);
        let mut ebr = [0u8; 512];
        src.read_exact_at(ebr_lba * 512, &mut ebr)
            .map_err(|e| Error::table(format!("cannot read EBR at sector {ebr_lba}: {e}")))?;
        if ebr[510] != 0x55 || ebr[511] != 0xAA {
            return Err(Error::table(format!(
                "EBR at sector {ebr_lba} has no 55AA signature"
            )));
        }
        let entries = mbr_entries(&ebr);
        let mut next = None;
        let mut found_logical = false;
        for e in entries.iter() {
            if e.kind == 0 || e.sectors == 0 {
                continue;
            }
            if EXTENDED_TYPES.contains(&e.kind) {
                if next.is_none() {
                    next = Some(ext_start + e.start_lba);
                }
                continue;
            }
            if found_logical {
                continue;
            }
            found_logical = true;
            let start = ebr_lba + e.start_lba;
            if e.start_lba == 0 || start + e.sectors > ext_end {
                return Err(Error::table(format!(
                    "logical partition {index} lies outside its extended partition"
                )));
            }
            out.push(Partition {
                index,
                start: start * 512,
                len: e.sectors * 512,
                kind: PartitionType::Mbr(e.kind),
                name: None,
                logical: true,
            });
            index += 1;
        }
        match next {
            Some(n) => ebr_lba = n,
            None => return Ok(()),
        }
    }
}

struct GptHeader {
    entries_lba: u64,
    count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn parse_gpt_header(h: &[u8], block_size: u32, expect_lba: u64) -> Option<GptHeader> {
    if &h[0..8] != b"EFI PART" {
        return None;
    }
    let header_size = le32(h, 12);
    if header_size < 92 || header_size > block_size {
        return None;
    }
    let stored_crc = le32(h, 16);
    let mut copy = h[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    if crc32fast::hash(&copy) != stored_crc {
        return None;
    }
    if le64(h, 24) != expect_lba {
        return None;
    }
    let entry_size = le32(h, 84);
    let count = le32(h, 80);
    if entry_size < 128 || !entry_size.is_multiple_of(8) || entry_size > 4096 {
        return None;
    }
    if u64::from(count) * u64::from(entry_size) > MAX_GPT_ARRAY_BYTES {
        return None;
    }
    Some(GptHeader {
        entries_lba: le64(h, 72),
        count,
        entry_size,
        entries_crc: le32(h, 88),
    })
}

fn read_gpt<R: ReadAt + ?Sized>(src: &R, image_len: u64) -> Result<PartitionTable> {
    let mut last_reason = String::from("no GPT header found");
    for block_size in [512u32, 1024, 2048, 4096] {
        let bs = u64::from(block_size);
        let mut candidates = vec![1u64];
        let last_lba = image_len / bs;
        if last_lba > 2 {
            candidates.push(last_lba - 1);
        }
        for lba in candidates {
            let mut h = vec![0u8; block_size as usize];
            if src.read_exact_at(lba * bs, &mut h).is_err() {
                continue;
            }
            let Some(header) = parse_gpt_header(&h, block_size, lba) else {
                continue;
            };
            match read_gpt_entries(src, &header, bs) {
                Ok(partitions) => {
                    return Ok(PartitionTable {
                        kind: TableKind::Gpt { block_size },
                        partitions,
                    });
                }
                Err(e) => last_reason = e.to_string(),
            }
        }
    }
    Err(Error::table(format!(
        "protective MBR but no valid GPT: {last_reason}"
    )))
}

fn read_gpt_entries<R: ReadAt + ?Sized>(src: &R, h: &GptHeader, bs: u64) -> Result<Vec<Partition>> {
    let array_len = u64::from(h.count) * u64::from(h.entry_size);
    let at = h
        .entries_lba
        .checked_mul(bs)
        .ok_or_else(|| Error::table("GPT entry array offset overflows"))?;
    let mut array = vec![0u8; array_len as usize];
    src.read_exact_at(at, &mut array)
        .map_err(|e| Error::table(format!("cannot read GPT entry array: {e}")))?;
    if crc32fast::hash(&array) != h.entries_crc {
        return Err(Error::table("GPT entry array CRC mismatch"));
    }
    let mut out = Vec::new();
    for slot in 0..h.count as usize {
        let e = &array[slot * h.entry_size as usize..][..128];
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&e[0..16]);
        if type_guid == [0u8; 16] {
            continue;
        }
        let first = le64(e, 32);
        let last = le64(e, 40);
        if last < first {
            return Err(Error::table(format!(
                "GPT entry {} ends before it starts",
                slot + 1
            )));
        }
        let start = first
            .checked_mul(bs)
            .ok_or_else(|| Error::table("GPT partition offset overflows"))?;
        let len = (last - first + 1)
            .checked_mul(bs)
            .ok_or_else(|| Error::table("GPT partition size overflows"))?;
        start
            .checked_add(len)
            .ok_or_else(|| Error::table("GPT partition end overflows"))?;
        let units: Vec<u16> = (0..36)
            .map(|i| le16(e, 56 + 2 * i))
            .take_while(|&u| u != 0)
            .collect();
        out.push(Partition {
            index: slot as u32 + 1,
            start,
            len,
            kind: PartitionType::Gpt(type_guid),
            name: Some(String::from_utf16_lossy(&units)),
            logical: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr_with(entries: &[(u8, u32, u32)]) -> Vec<u8> {
        let mut img = vec![0u8; 1 << 20];
        for (i, (t, s, n)) in entries.iter().enumerate() {
            let e = &mut img[446 + 16 * i..446 + 16 * (i + 1)];
            e[4] = *t;
            e[8..12].copy_from_slice(&s.to_le_bytes());
            e[12..16].copy_from_slice(&n.to_le_bytes());
        }
        img[510] = 0x55;
        img[511] = 0xAA;
        img
    }

    #[test]
    fn primaries_are_numbered_by_slot() {
        let img = mbr_with(&[(0x0C, 8, 100), (0, 0, 0), (0x83, 200, 100)]);
        let t = read_partition_table(&img).unwrap();
        assert_eq!(t.kind, TableKind::Mbr);
        let idx: Vec<u32> = t.partitions.iter().map(|p| p.index).collect();
        assert_eq!(idx, [1, 3]);
        assert_eq!(t.partitions[0].start, 8 * 512);
    }

    #[test]
    fn looping_ebr_chain_is_an_error() {
        let mut img = mbr_with(&[(0x0C, 8, 100), (0x05, 200, 1000)]);
        // EBR at 200: logical at +1, next -> ext_start + 0 (itself).
        let ebr = 200 * 512;
        img[ebr + 446 + 4] = 0x83;
        img[ebr + 446 + 8..ebr + 446 + 12].copy_from_slice(&1u32.to_le_bytes());
        img[ebr + 446 + 12..ebr + 446 + 16].copy_from_slice(&10u32.to_le_bytes());
        img[ebr + 462 + 4] = 0x05;
        img[ebr + 462 + 8..ebr + 462 + 12].copy_from_slice(&0u32.to_le_bytes());
        img[ebr + 462 + 12..ebr + 462 + 16].copy_from_slice(&10u32.to_le_bytes());
        img[ebr + 510] = 0x55;
        img[ebr + 511] = 0xAA;
        let err = read_partition_table(&img).unwrap_err();
        assert!(err.to_string().contains("loops"), "{err}");
    }

    #[test]
    fn truncated_image_is_an_error_not_a_panic() {
        let img = vec![0u8; 100];
        assert!(read_partition_table(&img).is_err());
    }

    /// A GPT with one partition named `resin-boot`, primary and backup.
    fn gpt_image(bs: usize) -> Vec<u8> {
        let blocks = 256usize;
        let mut img = vec![0u8; bs * blocks];
        img[446 + 4] = 0xEE;
        img[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        img[446 + 12..446 + 16].copy_from_slice(&((blocks - 1) as u32).to_le_bytes());
        img[510] = 0x55;
        img[511] = 0xAA;
        let mut entries = vec![0u8; 128 * 128];
        entries[0..16].copy_from_slice(&GPT_EFI_SYSTEM);
        entries[32..40].copy_from_slice(&40u64.to_le_bytes());
        entries[40..48].copy_from_slice(&99u64.to_le_bytes());
        for (j, u) in "resin-boot".encode_utf16().enumerate() {
            entries[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
        let ecrc = crc32fast::hash(&entries);
        let entry_blocks = entries.len().div_ceil(bs);
        let last = (blocks - 1) as u64;
        let header = |my: u64, alt: u64, at: u64| {
            let mut h = vec![0u8; 92];
            h[0..8].copy_from_slice(b"EFI PART");
            h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
            h[12..16].copy_from_slice(&92u32.to_le_bytes());
            h[24..32].copy_from_slice(&my.to_le_bytes());
            h[32..40].copy_from_slice(&alt.to_le_bytes());
            h[72..80].copy_from_slice(&at.to_le_bytes());
            h[80..84].copy_from_slice(&128u32.to_le_bytes());
            h[84..88].copy_from_slice(&128u32.to_le_bytes());
            h[88..92].copy_from_slice(&ecrc.to_le_bytes());
            let c = crc32fast::hash(&h);
            h[16..20].copy_from_slice(&c.to_le_bytes());
            h
        };
        let backup_entries = last - entry_blocks as u64;
        img[bs..bs + 92].copy_from_slice(&header(1, last, 2));
        img[2 * bs..2 * bs + entries.len()].copy_from_slice(&entries);
        let b = backup_entries as usize * bs;
        img[b..b + entries.len()].copy_from_slice(&entries);
        let l = last as usize * bs;
        img[l..l + 92].copy_from_slice(&header(last, 1, backup_entries));
        img
    }

    #[test]
    fn gpt_with_every_block_size() {
        for bs in [512usize, 1024, 2048, 4096] {
            let img = gpt_image(bs);
            let t = read_partition_table(&img).unwrap();
            assert_eq!(
                t.kind,
                TableKind::Gpt {
                    block_size: bs as u32
                }
            );
            assert_eq!(t.partitions.len(), 1);
            let p = &t.partitions[0];
            assert_eq!(
                (p.index, p.start, p.len),
                (1, 40 * bs as u64, 60 * bs as u64)
            );
            assert_eq!(p.name.as_deref(), Some("resin-boot"));
        }
    }

    #[test]
    fn gpt_crc_checks() {
        // A damaged primary header falls back to the backup one.
        let mut img = gpt_image(512);
        img[512 + 30] ^= 1;
        assert_eq!(read_partition_table(&img).unwrap().partitions.len(), 1);
        // Damaged entry arrays (both copies) are an error.
        let mut img = gpt_image(512);
        img[2 * 512 + 33] ^= 1;
        let b = (255 - 32) * 512;
        img[b + 33] ^= 1;
        assert!(read_partition_table(&img).is_err());
    }

    #[test]
    fn guid_bytes_match_known_layout() {
        // C12A7328-F81F-11D2-BA4B-00A0C93EC93B in on-disk order.
        assert_eq!(
            GPT_EFI_SYSTEM,
            [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
                0xC9, 0x3B
            ]
        );
    }
}
