//! Behaviour tests for balena-image through its public API, checked with
//! real Debian tools (sfdisk, sgdisk, mkfs.vfat, mtools, fsck.fat, gzip,
//! unzip, bsdtar from libarchive-tools, python3's zipfile).

mod crash_safety;
mod demo_images;
mod hostile;
mod props;
mod real_images;
mod util;
mod zip64;
