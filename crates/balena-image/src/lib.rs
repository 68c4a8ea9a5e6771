//! Disk-image surgery for balenaOS images, and balena's compressed-parts
//! image format. Synchronous `std::io`, no async, no network.
//!
//! What it does:
//!
//! * **Partition tables** ([`read_partition_table`]): MBR with the EBR chain
//!   of logical partitions (numbered from 5, loop-safe) and GPT (header and
//!   entry CRCs checked, block sizes 512–4096).
//! * **Boot partition discovery** ([`find_boot_partition`]): by label / GPT
//!   name (`resin-boot`, `flash-boot`, `balena-boot`), else the partition
//!   holding `/device-type.json`, else the device type's hint.
//! * **Configuration** ([`Configuration`]): `config.json` plus
//!   NetworkManager keyfiles written into the boot partition's FAT with
//!   fixed timestamps, idempotently, in three equivalent ways:
//!   [`configure_image_file`] (in place), [`configure_overlay`] (a
//!   copy-on-write view over a read-only base) and [`configure_parts`] (on
//!   compressed parts, re-deflating only the parts that changed). All three
//!   produce byte-identical images.
//! * **Compressed parts**: [`ImageManifest`] (`image.json`), [`import`]
//!   (raw/`.gz`/`.zip` image → parts on all cores), [`assemble`] (plans for
//!   `.gz`/`.zip` downloads with the exact length known up front, served as
//!   byte ranges), [`inflate`] (parts → raw image on all cores).
//! * **Demo images** ([`demo`]): small real images (MBR with logical
//!   partitions, GPT, flasher) generated in pure Rust.
//!
//! Hostile input (truncated images, looping EBR chains, cyclic FAT chains,
//! absurd sizes, corrupt deflate data) yields [`Error`], never a panic or
//! a hang.

pub mod assemble;
pub mod config;
mod configure;
pub mod demo;
mod error;
pub mod fat;
pub mod import;
pub mod inflate;
mod io;
pub mod manifest;
mod overlay;
pub mod partition;
pub mod parts;

pub use config::{ConfigPartition, Configuration, NetworkEntry, StaticIp};
pub use configure::{
    BOOT_LABELS, BootPartition, ConfigureReport, FoundBy, compute_patches, configure_image_file,
    configure_overlay, filesystem_label, find_boot_partition, find_boot_partition_in,
    os_version_from_os_release, read_boot_file,
};
pub use error::{Error, Result};
pub use io::{ReadAt, SeekReader, Slice, Zeros};
pub use manifest::{
    DEFAULT_IMAGE_KEY, ImageEntry, ImageManifest, PartEntry, PartInfo, PartsLayout,
};
pub use overlay::{ConfiguredImage, Overlay, Patches, RangeReader, Window};
pub use partition::{Partition, PartitionTable, PartitionType, TableKind, read_partition_table};
pub use parts::{
    ConfiguredParts, DirPartStore, PartData, PartRef, PartStore, PartsImage, configure_parts,
};
