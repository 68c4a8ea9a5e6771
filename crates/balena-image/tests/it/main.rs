//! Behaviour tests for balena-image through its public API, checked with
//! real Debian tools (sfdisk, sgdisk, mkfs.vfat, mtools, fsck.fat, gzip,
//! unzip).

mod demo_images;
mod hostile;
mod props;
mod real_images;
mod util;
