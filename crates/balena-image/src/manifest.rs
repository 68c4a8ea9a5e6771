//! `image.json`: the manifest of balena's compressed-parts image format.
//!
//! ```json
//! {"resin.img": {"parts": [
//!   {"filename": "part-0.deflate", "crc": 1234, "len": 4194304, "zLen": 4456},
//!   {"filename": "part-1.deflate", "crc": 5678, "len": 41943040, "zLen": 358864, "partitionIndex": "(1)"}
//! ]}}
//! ```
//!
//! Each part is an independent raw DEFLATE stream of `len` bytes of the
//! image, ended by a sync flush and without a final block, so parts can be
//! concatenated into one deflate stream. Parts written by this crate also
//! carry `offset` (byte offset in the image); upstream readers ignore
//! unknown fields, and for upstream manifests the offset is the running sum
//! of `len`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The key upstream uses for the image inside `image.json`.
pub const DEFAULT_IMAGE_KEY: &str = "resin.img";

/// One compressed part as listed in `image.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// File name inside the parts folder (`part-N.deflate`).
    pub filename: String,
    /// CRC-32 of the uncompressed bytes.
    pub crc: u32,
    /// Uncompressed length.
    pub len: u64,
    /// Compressed length (size of the part file).
    #[serde(rename = "zLen")]
    pub z_len: u64,
    /// `"(N)"` when the part belongs to partition N. This crate marks every
    /// chunk of a partition; upstream marks the single part per partition.
    #[serde(
        rename = "partitionIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub partition_index: Option<String>,
    /// Byte offset of the part in the image (this crate's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl PartEntry {
    /// The partition number from `partitionIndex` (`"(3)"` → 3).
    pub fn partition(&self) -> Option<u32> {
        let s = self.partition_index.as_deref()?;
        s.strip_prefix('(')?.strip_suffix(')')?.parse().ok()
    }
}

/// One image inside the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// The parts in image order.
    pub parts: Vec<PartEntry>,
}

/// The whole `image.json`: image key → parts, in file order.
///
/// ```
/// use balena_image::ImageManifest;
/// let m: ImageManifest = serde_json::from_str(
///     r#"{"resin.img":{"parts":[{"filename":"part-0.deflate","crc":0,"len":0,"zLen":2}]}}"#,
/// ).unwrap();
/// assert_eq!(m.images[0].0, "resin.img");
/// assert_eq!(m.layout("resin.img").unwrap().len(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageManifest {
    /// (image key, entry) pairs in file order.
    pub images: Vec<(String, ImageEntry)>,
}

impl Serialize for ImageManifest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.images.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ImageManifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let m = Map::<String, Value>::deserialize(d)?;
        let mut images = Vec::with_capacity(m.len());
        for (k, v) in m {
            let e = ImageEntry::deserialize(v).map_err(D::Error::custom)?;
            images.push((k, e));
        }
        Ok(ImageManifest { images })
    }
}

/// A validated part with its position in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// File name of the part.
    pub filename: String,
    /// CRC-32 of the uncompressed bytes.
    pub crc: u32,
    /// Uncompressed length.
    pub len: u64,
    /// Compressed length.
    pub z_len: u64,
    /// Byte offset in the image.
    pub offset: u64,
    /// Partition this part belongs to, if any.
    pub partition: Option<u32>,
}

impl PartInfo {
    /// One past the last image byte of the part.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
    /// Back to a manifest entry (with `offset`).
    pub fn to_entry(&self) -> PartEntry {
        PartEntry {
            filename: self.filename.clone(),
            crc: self.crc,
            len: self.len,
            z_len: self.z_len,
            partition_index: self.partition.map(|n| format!("({n})")),
            offset: Some(self.offset),
        }
    }
}

/// The validated, positioned parts of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsLayout {
    parts: Vec<PartInfo>,
    len: u64,
}

/// Whether a part file name is safe to join onto a folder.
pub fn is_safe_part_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

impl PartsLayout {
    /// Validates entries (safe names, offsets matching the running sum of
    /// `len`, no overflow) and positions them.
    pub fn new(entries: &[PartEntry]) -> Result<Self> {
        let mut parts = Vec::with_capacity(entries.len());
        let mut off = 0u64;
        for e in entries {
            if !is_safe_part_name(&e.filename) {
                return Err(Error::Manifest(format!(
                    "unsafe part file name {:?}",
                    e.filename
                )));
            }
            if let Some(o) = e.offset
                && o != off
            {
                return Err(Error::Manifest(format!(
                    "{}: offset {o} but previous parts end at {off}",
                    e.filename
                )));
            }
            if e.partition_index.is_some() && e.partition().is_none() {
                return Err(Error::Manifest(format!(
                    "{}: partitionIndex {:?} is not of the form (N)",
                    e.filename, e.partition_index
                )));
            }
            parts.push(PartInfo {
                filename: e.filename.clone(),
                crc: e.crc,
                len: e.len,
                z_len: e.z_len,
                offset: off,
                partition: e.partition(),
            });
            off = off
                .checked_add(e.len)
                .ok_or_else(|| Error::Manifest("image length overflows".into()))?;
        }
        Ok(PartsLayout { parts, len: off })
    }

    /// Builds a layout from already positioned parts (must be contiguous).
    pub fn from_parts(parts: Vec<PartInfo>) -> Result<Self> {
        let entries: Vec<PartEntry> = parts.iter().map(PartInfo::to_entry).collect();
        Self::new(&entries)
    }

    /// The parts in image order.
    pub fn parts(&self) -> &[PartInfo] {
        &self.parts
    }

    /// Uncompressed image length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Σ zLen: what balena's `download-size` reports.
    pub fn compressed_len(&self) -> u64 {
        self.parts.iter().map(|p| p.z_len).sum()
    }

    /// Index of the part holding image byte `offset`.
    pub fn part_at(&self, offset: u64) -> Option<usize> {
        let i = self.parts.partition_point(|p| p.end() <= offset);
        (i < self.parts.len() && self.parts[i].offset <= offset).then_some(i)
    }
}

impl ImageManifest {
    /// Parses `image.json` bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Serialises to JSON (compact, key order kept).
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The entry for an image key.
    pub fn image(&self, key: &str) -> Option<&ImageEntry> {
        self.images.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// The validated layout of one image.
    pub fn layout(&self, key: &str) -> Result<PartsLayout> {
        let e = self
            .image(key)
            .ok_or_else(|| Error::Manifest(format!("no image {key:?} in manifest")))?;
        PartsLayout::new(&e.parts)
    }

    /// The only image of a single-image manifest (what `.gz` needs).
    pub fn single(&self) -> Result<(&str, PartsLayout)> {
        match self.images.as_slice() {
            [(k, e)] => Ok((k.as_str(), PartsLayout::new(&e.parts)?)),
            _ => Err(Error::Manifest(format!(
                "expected exactly one image in the manifest, found {}",
                self.images.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_upstream_fields() {
        let text = r#"{"resin.img":{"parts":[{"filename":"part-0.deflate","crc":1,"len":10,"zLen":5},{"filename":"part-1.deflate","crc":2,"len":20,"zLen":6,"partitionIndex":"(1)"}]}}"#;
        let m = ImageManifest::from_slice(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(m.to_vec()).unwrap(), text);
        let l = m.layout("resin.img").unwrap();
        assert_eq!(l.len(), 30);
        assert_eq!(l.parts()[1].offset, 10);
        assert_eq!(l.parts()[1].partition, Some(1));
        assert_eq!(l.part_at(9), Some(0));
        assert_eq!(l.part_at(10), Some(1));
        assert_eq!(l.part_at(30), None);
    }

    #[test]
    fn hostile_manifests_are_rejected() {
        let bad = [
            r#"{"resin.img":{"parts":[{"filename":"../etc/passwd","crc":1,"len":10,"zLen":5}]}}"#,
            r#"{"resin.img":{"parts":[{"filename":"a","crc":1,"len":18446744073709551615,"zLen":5},{"filename":"b","crc":1,"len":2,"zLen":5}]}}"#,
            r#"{"resin.img":{"parts":[{"filename":"a","crc":1,"len":1,"zLen":5,"offset":3}]}}"#,
            r#"{"resin.img":{"parts":[{"filename":"a","crc":1,"len":1,"zLen":5,"partitionIndex":"1"}]}}"#,
        ];
        for b in bad {
            let m = ImageManifest::from_slice(b.as_bytes()).unwrap();
            assert!(m.layout("resin.img").is_err(), "{b}");
        }
        assert!(ImageManifest::from_slice(b"[]").is_err());
    }
}
