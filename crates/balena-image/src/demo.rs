//! Small but real balenaOS-like images, generated in pure Rust with
//! deterministic bytes (same spec ⇒ same image), for the demo catalog and
//! for tests.
//!
//! Layouts follow meta-balena: MBR → 1 `resin-boot` (FAT, boot flag),
//! 2 `resin-rootA`, 3 `resin-rootB`, 4 extended, 5 `resin-state`,
//! 6 `resin-data` (logical); GPT → the same names as GPT partition names;
//! flasher → `flash-boot`, `flash-rootA`, `flash-rootB`. The boot partition
//! is FAT16 (8 MiB here) or, for Raspberry Pi types, FAT32 (36 MiB, the
//! smallest size that is legally FAT32 with 512-byte clusters), holding
//! what a stock boot partition holds. Root file systems are deterministic
//! filler (incompressible, text-like and zero regions), not ext4. Partitions
//! are 1 MiB aligned (balena uses 4 MiB) to keep images a few MiB.
//!
//! The image is sparse: [`DemoImage`] stores only non-zero regions.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::io::{ReadAt, Zeros};
use crate::overlay::{ConfiguredImage, Overlay};
use crate::partition::{GPT_BASIC_DATA, GPT_EFI_SYSTEM, GPT_LINUX_DATA};

const MIB: u64 = 1 << 20;

/// Partition table of a demo image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoTable {
    /// DOS table with extended/logical partitions.
    Mbr,
    /// GUID partition table (512-byte blocks).
    Gpt,
}

/// FAT variant of the demo boot partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoFat {
    /// FAT16 (balenaOS default).
    Fat16,
    /// FAT32 (`BALENA_BOOT_FAT32=1`, all Raspberry Pi types).
    Fat32,
}

/// Which build of a balenaOS release a demo image is: what the boot
/// partition's `os-release` and stock `config.json` say.
///
/// Before balenaOS unified its images, every release was built twice, as
/// `<version>.prod` and `<version>.dev`; meta-balena wrote
/// `VARIANT="Production"`/`VARIANT_ID="prod"` or
/// `VARIANT="Development"`/`VARIANT_ID="dev"` into `os-release`, and a
/// development build's stock `config.json` also carries
/// `"developmentMode":true` (image-server.md §2.1). A unified image (one
/// build per release, development mode being a `config.json` switch) has
/// no `VARIANT` lines at all.
///
/// ```
/// use balena_image::demo::DemoVariant;
/// assert_eq!(DemoVariant::from_release_variant("dev"), Some(DemoVariant::Development));
/// assert_eq!(DemoVariant::from_release_variant(""), Some(DemoVariant::Unified));
/// assert_eq!(DemoVariant::from_release_variant("debug"), None);
/// assert_eq!(DemoVariant::Production.id(), Some("prod"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoVariant {
    /// One image for production and development (the default; balenaOS
    /// releases since the images were unified).
    #[default]
    Unified,
    /// The `.prod` build of a release from before unification.
    Production,
    /// The `.dev` build of a release from before unification.
    Development,
}

impl DemoVariant {
    /// The variant of a release's `variant` column (`""`, `prod`, `dev`);
    /// `None` for anything else.
    pub fn from_release_variant(variant: &str) -> Option<Self> {
        match variant {
            "" => Some(DemoVariant::Unified),
            "prod" => Some(DemoVariant::Production),
            "dev" => Some(DemoVariant::Development),
            _ => None,
        }
    }

    /// `VARIANT_ID` of the build (`prod`/`dev`), `None` for a unified image.
    pub fn id(self) -> Option<&'static str> {
        match self {
            DemoVariant::Unified => None,
            DemoVariant::Production => Some("prod"),
            DemoVariant::Development => Some("dev"),
        }
    }

    /// `VARIANT` of the build (`Production`/`Development`), `None` for a
    /// unified image.
    pub fn name(self) -> Option<&'static str> {
        match self {
            DemoVariant::Unified => None,
            DemoVariant::Production => Some("Production"),
            DemoVariant::Development => Some("Development"),
        }
    }
}

/// What demo image to build.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSpec {
    /// Device type slug.
    pub slug: String,
    /// Partition table type.
    pub table: DemoTable,
    /// Build a flasher image (`flash-boot`, `flash-rootA`, `flash-rootB`).
    pub flasher: bool,
    /// Boot partition FAT type.
    pub boot_fat: DemoFat,
    /// OS version written to `os-release`.
    pub os_version: String,
    /// Build variant (default [`DemoVariant::Unified`]).
    pub variant: DemoVariant,
    /// The `device-type.json` placed on the boot partition.
    pub device_type_json: Value,
    /// Size of each root partition (default 4 MiB).
    pub rootfs_len: u64,
    /// Size of the data partition (default 2 MiB; absent in flashers).
    pub data_len: u64,
    /// Fill root/state/data partitions with deterministic content
    /// (default true; false leaves them zero, e.g. to fill them later).
    pub filler: bool,
}

fn is_rpi(slug: &str) -> bool {
    ["raspberry", "rpi", "fincm3", "revpi", "npe-x500"]
        .iter()
        .any(|p| slug.starts_with(p))
}

impl DemoSpec {
    /// Defaults for a slug: FAT32 for Raspberry Pi family types, GPT for
    /// `generic-*`, Jetson and ROCK Pi types, MBR otherwise; not a flasher.
    pub fn new(slug: &str) -> Self {
        let gpt = slug.starts_with("generic-")
            || slug.starts_with("jetson")
            || slug.starts_with("rockpi");
        DemoSpec {
            slug: slug.to_string(),
            table: if gpt { DemoTable::Gpt } else { DemoTable::Mbr },
            flasher: false,
            boot_fat: if is_rpi(slug) {
                DemoFat::Fat32
            } else {
                DemoFat::Fat16
            },
            os_version: "6.8.1".to_string(),
            variant: DemoVariant::Unified,
            device_type_json: default_device_type_json(slug, false),
            rootfs_len: 4 * MIB,
            data_len: 2 * MIB,
            filler: true,
        }
    }

    /// Builds a spec from an entry of `catalog/device-types.json`
    /// (`slug`, `name`, `cpu_architecture`, `partition_table`, `boot_fs`,
    /// `default_image_is_flasher`, `config_partition_raw`, `yocto_*`,
    /// `deploy_artifact`).
    pub fn from_catalog_entry(entry: &Value) -> Result<Self> {
        let slug = entry
            .get("slug")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| Error::InvalidArgument("catalog entry without a slug".into()))?;
        let mut spec = DemoSpec::new(slug);
        spec.table = match entry.get("partition_table").and_then(Value::as_str) {
            Some("gpt") => DemoTable::Gpt,
            _ => DemoTable::Mbr,
        };
        spec.boot_fat = match entry.get("boot_fs").and_then(Value::as_str) {
            Some(s) if s.contains("fat32") => DemoFat::Fat32,
            _ => DemoFat::Fat16,
        };
        spec.flasher = entry
            .get("default_image_is_flasher")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let s = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut dt = default_device_type_json(slug, spec.flasher);
        dt["name"] = json!(entry.get("name").and_then(Value::as_str).unwrap_or(slug));
        dt["arch"] = json!(s("cpu_architecture"));
        if let Some(a) = entry.get("device_type_json_aliases") {
            dt["aliases"] = a.clone();
        }
        dt["yocto"]["machine"] = json!(s("yocto_machine"));
        dt["yocto"]["deployArtifact"] = json!(s("deploy_artifact"));
        if let Some(p) = entry.get("config_partition_raw") {
            dt["configuration"]["config"]["partition"] = p.clone();
        }
        spec.device_type_json = dt;
        Ok(spec)
    }

    /// Builder: set the partition table type.
    pub fn table(mut self, table: DemoTable) -> Self {
        self.table = table;
        self
    }

    /// Builder: build a flasher image.
    pub fn flasher(mut self, flasher: bool) -> Self {
        self.flasher = flasher;
        self
    }

    /// Builder: set the FAT type of the boot partition.
    pub fn boot_fat(mut self, fat: DemoFat) -> Self {
        self.boot_fat = fat;
        self
    }

    /// Builder: set the root and data partition sizes (rounded up to MiB).
    pub fn sizes(mut self, rootfs_len: u64, data_len: u64) -> Self {
        self.rootfs_len = rootfs_len.div_ceil(MIB).max(1) * MIB;
        self.data_len = data_len.div_ceil(MIB).max(1) * MIB;
        self
    }

    /// Builder: whether to write filler content.
    pub fn filler(mut self, filler: bool) -> Self {
        self.filler = filler;
        self
    }

    /// Builder: set the OS version.
    pub fn os_version(mut self, v: &str) -> Self {
        self.os_version = v.to_string();
        self
    }

    /// Builder: set the build variant (`os-release` `VARIANT`/`VARIANT_ID`
    /// and, for a development build, `"developmentMode":true` in the stock
    /// `config.json`).
    ///
    /// ```
    /// use balena_image::demo::{DemoSpec, DemoVariant};
    /// let img = DemoSpec::new("raspberrypi3").variant(DemoVariant::Development).build().unwrap();
    /// let text = balena_image::read_boot_file(&img, "/os-release", None).unwrap();
    /// assert!(String::from_utf8(text).unwrap().contains("VARIANT_ID=\"dev\"\n"));
    /// let cfg = balena_image::read_boot_file(&img, "/config.json", None).unwrap();
    /// assert_eq!(cfg, br#"{"deviceType":"raspberrypi3","persistentLogging":false,"developmentMode":true}"#);
    /// ```
    pub fn variant(mut self, variant: DemoVariant) -> Self {
        self.variant = variant;
        self
    }

    /// Generates the image.
    pub fn build(&self) -> Result<DemoImage> {
        if self.slug.is_empty()
            || self.slug.len() > 64
            || self.slug.chars().any(|c| c.is_control() || c == '"')
        {
            return Err(Error::InvalidArgument(format!(
                "bad device type slug {:?}",
                self.slug
            )));
        }
        if self.rootfs_len > 64 << 30 || self.data_len > 64 << 30 {
            return Err(Error::InvalidArgument(
                "demo partitions are limited to 64 GiB".into(),
            ));
        }
        if self.os_version.chars().any(|c| c.is_control() || c == '"') {
            return Err(Error::InvalidArgument("bad OS version".into()));
        }
        build(self)
    }
}

fn default_device_type_json(slug: &str, flasher: bool) -> Value {
    json!({
        "slug": slug,
        "name": slug,
        "arch": "",
        "state": "RELEASED",
        "yocto": {
            "machine": slug,
            "image": if flasher { "balena-image-flasher" } else { "balena-image" },
            "fstype": "balenaos-img",
            "deployArtifact": format!("balena-image-{slug}.balenaos-img"),
            "compressed": true
        },
        "configuration": {"config": {"partition": {"primary": 1}, "path": "/config.json"}},
        "options": [{"isGroup": true, "name": "network", "message": "Network", "options": []}],
        "version": 1
    })
}

/// A generated image: all zeros except for recorded regions.
pub struct DemoImage {
    image: ConfiguredImage<Zeros>,
}

impl DemoImage {
    /// Image length in bytes.
    pub fn len(&self) -> u64 {
        self.image.len_bytes().unwrap_or(0)
    }

    /// Whether the image is empty (never, for a built image).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole image in memory.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.len() as usize];
        self.image.read_exact_at(0, &mut v)?;
        Ok(v)
    }

    /// Writes the image to a seekable writer, seeking over zero regions
    /// (sparse on file systems that support holes), and sets its length.
    pub fn write_to_file(&self, f: &mut File) -> Result<()> {
        f.set_len(0)?;
        f.set_len(self.len())?;
        for (off, bytes) in self.image.patches().runs() {
            f.seek(SeekFrom::Start(*off))?;
            f.write_all(bytes)?;
        }
        f.flush()?;
        Ok(())
    }

    /// Creates (or replaces) a file at `path` holding the image.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut f = File::create(path)?;
        self.write_to_file(&mut f)?;
        f.sync_all()?;
        Ok(())
    }
}

impl ReadAt for DemoImage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.image.read_at(offset, buf)
    }
    fn len_bytes(&self) -> std::io::Result<u64> {
        self.image.len_bytes()
    }
}

struct Part {
    name: &'static str,
    start: u64,
    len: u64,
    mbr_type: u8,
    gpt_type: [u8; 16],
    logical: bool,
}

/// A small deterministic PRNG (xorshift64*), enough for filler.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn seed(slug: &str, salt: &str) -> u64 {
    let a = crc32fast::hash(slug.as_bytes());
    let b = crc32fast::hash(salt.as_bytes());
    (u64::from(a) << 32 | u64::from(b)) | 1
}

fn filler(slug: &str, name: &str, len: u64) -> Vec<(u64, Vec<u8>)> {
    // First quarter random, second quarter text-like, rest zero.
    let mut rng = Rng(seed(slug, name));
    let q = (len / 4) as usize;
    let mut random = vec![0u8; q];
    for c in random.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        c.copy_from_slice(&v[..c.len()]);
    }
    let words = [
        "balena", "os", "image", "root", "file", "system", "demo", "data", "block", "kernel",
        "module", "firmware",
    ];
    let mut text = Vec::with_capacity(q);
    let header = format!("{name} of {slug}: deterministic demo filler\n");
    text.extend_from_slice(header.as_bytes());
    while text.len() < q {
        let w = words[(rng.next() % words.len() as u64) as usize];
        text.extend_from_slice(w.as_bytes());
        text.push(if rng.next().is_multiple_of(9) {
            b'\n'
        } else {
            b' '
        });
    }
    text.truncate(q);
    vec![(0, random), (q as u64, text)]
}

fn label11(s: &str) -> [u8; 11] {
    let mut l = [b' '; 11];
    for (i, b) in s.bytes().take(11).enumerate() {
        l[i] = b;
    }
    l
}

fn boot_files(spec: &DemoSpec) -> Vec<(String, Vec<u8>)> {
    let v = &spec.os_version;
    let slug = &spec.slug;
    let dev_mode = if spec.variant == DemoVariant::Development {
        r#","developmentMode":true"#
    } else {
        ""
    };
    // meta-balena's os-release: the VARIANT lines only in builds from
    // before unification.
    let variant_lines = match (spec.variant.name(), spec.variant.id()) {
        (Some(name), Some(id)) => format!("VARIANT=\"{name}\"\nVARIANT_ID=\"{id}\"\n"),
        _ => String::new(),
    };
    let mut files = vec![
        (
            "config.json".to_string(),
            format!(r#"{{"deviceType":"{slug}","persistentLogging":false{dev_mode}}}"#)
                .into_bytes(),
        ),
        (
            "device-type.json".to_string(),
            serde_json::to_vec_pretty(&spec.device_type_json).unwrap_or_default(),
        ),
        (
            "os-release".to_string(),
            format!(
                "ID=\"balena-os\"\nNAME=\"balenaOS\"\nVERSION=\"{v}\"\nVERSION_ID=\"{v}\"\nPRETTY_NAME=\"balenaOS {v}\"\nMACHINE=\"{slug}\"\n{variant_lines}META_BALENA_VERSION=\"{v}\"\n"
            )
            .into_bytes(),
        ),
        (
            "system-connections/balena-sample.ignore".to_string(),
            b"[connection]\nid=balena-sample\ntype=wifi\n\n[wifi]\nhidden=true\nmode=infrastructure\nssid=My_Wifi_Ssid\n\n[ipv4]\nmethod=auto\n\n[ipv6]\naddr-gen-mode=stable-privacy\nmethod=auto\n\n[wifi-security]\nauth-alg=open\nkey-mgmt=wpa-psk\npsk=super_secret_wifi_password\n".to_vec(),
        ),
        (
            "system-connections/README.ignore".to_string(),
            b"Files in this folder are copied to /etc/NetworkManager/system-connections on boot.\nFiles ending in .ignore are skipped.\n".to_vec(),
        ),
        (
            "system-proxy/redsocks.conf.ignore".to_string(),
            b"base {\n  log_debug = off;\n  log_info = on;\n  log = stderr;\n  daemon = off;\n  redirector = iptables;\n}\n\nredsocks {\n  type = socks5;\n  ip = 192.168.1.100;\n  port = 8123;\n  local_ip = 127.0.0.1;\n  local_port = 12345;\n}\n".to_vec(),
        ),
        (
            "system-proxy/README.ignore".to_string(),
            b"Put redsocks.conf and no_proxy here to route traffic through a proxy.\n".to_vec(),
        ),
    ];
    // The real fingerprint lists md5 sums; the demo lists CRC-32s of every
    // boot file except config.json, in the same "<sum>  /<path>" shape.
    let mut fp = String::new();
    for (name, data) in files.iter().filter(|(n, _)| n != "config.json") {
        fp.push_str(&format!("{:08x}  /{}\n", crc32fast::hash(data), name));
    }
    files.push(("balenaos.fingerprint".to_string(), fp.into_bytes()));
    files
}

fn build(spec: &DemoSpec) -> Result<DemoImage> {
    let boot_len = match spec.boot_fat {
        DemoFat::Fat16 => 8 * MIB,
        DemoFat::Fat32 => 36 * MIB,
    };
    let boot_name = if spec.flasher {
        "flash-boot"
    } else {
        "resin-boot"
    };
    let boot_mbr = if spec.boot_fat == DemoFat::Fat32 {
        0x0C
    } else {
        0x0E
    };
    let mut parts = Vec::new();
    let mut at = MIB;
    let add = |parts: &mut Vec<Part>,
               at: &mut u64,
               name: &'static str,
               len: u64,
               mbr_type: u8,
               gpt_type: [u8; 16],
               logical: bool,
               gap: u64| {
        *at += gap;
        parts.push(Part {
            name,
            start: *at,
            len,
            mbr_type,
            gpt_type,
            logical,
        });
        *at += len;
    };
    add(
        &mut parts,
        &mut at,
        boot_name,
        boot_len,
        boot_mbr,
        GPT_EFI_SYSTEM,
        false,
        0,
    );
    let (root_a, root_b) = if spec.flasher {
        ("flash-rootA", "flash-rootB")
    } else {
        ("resin-rootA", "resin-rootB")
    };
    add(
        &mut parts,
        &mut at,
        root_a,
        spec.rootfs_len,
        0x83,
        GPT_LINUX_DATA,
        false,
        0,
    );
    add(
        &mut parts,
        &mut at,
        root_b,
        spec.rootfs_len,
        0x83,
        GPT_LINUX_DATA,
        false,
        0,
    );
    let mut extended = None;
    if !spec.flasher {
        match spec.table {
            DemoTable::Mbr => {
                let ext_start = at;
                // Each logical partition is preceded by 1 MiB holding its EBR.
                add(
                    &mut parts,
                    &mut at,
                    "resin-state",
                    MIB,
                    0x83,
                    GPT_LINUX_DATA,
                    true,
                    MIB,
                );
                add(
                    &mut parts,
                    &mut at,
                    "resin-data",
                    spec.data_len,
                    0x83,
                    GPT_LINUX_DATA,
                    true,
                    MIB,
                );
                extended = Some((ext_start, at - ext_start));
            }
            DemoTable::Gpt => {
                add(
                    &mut parts,
                    &mut at,
                    "resin-state",
                    MIB,
                    0x83,
                    GPT_LINUX_DATA,
                    false,
                    0,
                );
                add(
                    &mut parts,
                    &mut at,
                    "resin-data",
                    spec.data_len,
                    0x83,
                    GPT_BASIC_DATA,
                    false,
                    0,
                );
            }
        }
    }
    let total = at + MIB; // room for the backup GPT
    let mut ov = Overlay::new(Zeros(total))?;
    match spec.table {
        DemoTable::Mbr => write_mbr(&mut ov, spec, &parts, extended)?,
        DemoTable::Gpt => write_gpt(&mut ov, spec, &parts, total)?,
    }
    let boot = &parts[0];
    {
        let w = ov.window(boot.start, boot.len)?;
        let (fat_type, cluster) = match spec.boot_fat {
            DemoFat::Fat16 => (fatfs::FatType::Fat16, 1024),
            DemoFat::Fat32 => (fatfs::FatType::Fat32, 512),
        };
        let opts = fatfs::FormatVolumeOptions::new()
            .fat_type(fat_type)
            .bytes_per_cluster(cluster)
            .bytes_per_sector(512)
            .total_sectors((boot.len / 512) as u32)
            .volume_id(crc32fast::hash(spec.slug.as_bytes()))
            .volume_label(label11(boot_name));
        fatfs::format_volume(w, opts).map_err(|e| Error::Fat(format!("format: {e}")))?;
    }
    crate::configure::write_files(&mut ov, boot.start, boot.len, &boot_files(spec), &[], true)?;
    for p in parts[1..].iter().filter(|_| spec.filler) {
        for (off, bytes) in filler(&spec.slug, p.name, p.len) {
            ov.write_at(p.start + off, &bytes)?;
        }
    }
    let patches = Arc::new(ov.patches());
    Ok(DemoImage {
        image: ConfiguredImage::new(Zeros(total), patches)?,
    })
}

fn mbr_entry(
    buf: &mut [u8],
    slot: usize,
    boot: bool,
    kind: u8,
    start_lba: u64,
    sectors: u64,
) -> Result<()> {
    let s = u32::try_from(start_lba)
        .map_err(|_| Error::InvalidArgument("partition start beyond 2 TiB".into()))?;
    let n = u32::try_from(sectors)
        .map_err(|_| Error::InvalidArgument("partition beyond 2 TiB".into()))?;
    let e = &mut buf[446 + 16 * slot..446 + 16 * (slot + 1)];
    e[0] = if boot { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[4] = kind;
    e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&s.to_le_bytes());
    e[12..16].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

fn write_mbr<B: ReadAt>(
    ov: &mut Overlay<B>,
    spec: &DemoSpec,
    parts: &[Part],
    extended: Option<(u64, u64)>,
) -> Result<()> {
    let mut mbr = vec![0u8; 512];
    mbr[440..444].copy_from_slice(&crc32fast::hash(spec.slug.as_bytes()).to_le_bytes());
    let primaries: Vec<&Part> = parts.iter().filter(|p| !p.logical).collect();
    for (slot, p) in primaries.iter().enumerate() {
        mbr_entry(
            &mut mbr,
            slot,
            slot == 0,
            p.mbr_type,
            p.start / 512,
            p.len / 512,
        )?;
    }
    if let Some((ext_start, ext_len)) = extended {
        mbr_entry(
            &mut mbr,
            primaries.len(),
            false,
            0x0F,
            ext_start / 512,
            ext_len / 512,
        )?;
        let logicals: Vec<&Part> = parts.iter().filter(|p| p.logical).collect();
        for (i, p) in logicals.iter().enumerate() {
            let ebr_at = p.start - MIB;
            let mut ebr = vec![0u8; 512];
            mbr_entry(
                &mut ebr,
                0,
                false,
                p.mbr_type,
                (p.start - ebr_at) / 512,
                p.len / 512,
            )?;
            if let Some(next) = logicals.get(i + 1) {
                let next_ebr = next.start - MIB;
                let next_len = next.start + next.len - next_ebr;
                mbr_entry(
                    &mut ebr,
                    1,
                    false,
                    0x05,
                    (next_ebr - ext_start) / 512,
                    next_len / 512,
                )?;
            }
            ebr[510] = 0x55;
            ebr[511] = 0xAA;
            ov.write_at(ebr_at, &ebr)?;
        }
    }
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    ov.write_at(0, &mbr)?;
    Ok(())
}

fn guid_from(slug: &str, salt: &str) -> [u8; 16] {
    let mut rng = Rng(seed(slug, salt));
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&rng.next().to_le_bytes());
    g[8..].copy_from_slice(&rng.next().to_le_bytes());
    g[7] = (g[7] & 0x0F) | 0x40; // version 4 (stored little-endian in field 3)
    g[8] = (g[8] & 0x3F) | 0x80; // RFC 4122 variant
    g
}

fn write_gpt<B: ReadAt>(
    ov: &mut Overlay<B>,
    spec: &DemoSpec,
    parts: &[Part],
    total: u64,
) -> Result<()> {
    let lbas = total / 512;
    let mut mbr = vec![0u8; 512];
    mbr_entry(&mut mbr, 0, false, 0xEE, 1, (lbas - 1).min(0xFFFF_FFFF))?;
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    ov.write_at(0, &mbr)?;
    let mut entries = vec![0u8; 128 * 128];
    for (i, p) in parts.iter().enumerate() {
        let e = &mut entries[i * 128..(i + 1) * 128];
        e[0..16].copy_from_slice(&p.gpt_type);
        e[16..32].copy_from_slice(&guid_from(&spec.slug, p.name));
        e[32..40].copy_from_slice(&(p.start / 512).to_le_bytes());
        e[40..48].copy_from_slice(&((p.start + p.len) / 512 - 1).to_le_bytes());
        for (j, u) in p.name.encode_utf16().take(36).enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    let entries_crc = crc32fast::hash(&entries);
    let header = |my: u64, alt: u64, entries_lba: u64| {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(lbas - 34).to_le_bytes());
        h[56..72].copy_from_slice(&guid_from(&spec.slug, "disk"));
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    ov.write_at(512, &header(1, lbas - 1, 2))?;
    ov.write_at(1024, &entries)?;
    ov.write_at((lbas - 33) * 512, &entries)?;
    ov.write_at((lbas - 1) * 512, &header(lbas - 1, 1, lbas - 33))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TableKind, find_boot_partition, read_partition_table};

    #[test]
    fn demo_layouts_parse_back() {
        for (slug, flasher, kind, n) in [
            ("raspberrypi3", false, TableKind::Mbr, 5),
            (
                "generic-amd64",
                false,
                TableKind::Gpt { block_size: 512 },
                5,
            ),
            ("intel-nuc", true, TableKind::Mbr, 3),
            ("generic-amd64", true, TableKind::Gpt { block_size: 512 }, 3),
        ] {
            let img = DemoSpec::new(slug)
                .flasher(flasher)
                .build()
                .unwrap()
                .to_vec()
                .unwrap();
            let t = read_partition_table(&img).unwrap();
            assert_eq!(t.kind, kind, "{slug}");
            assert_eq!(t.partitions.len(), n, "{slug}");
            t.check_layout(img.len() as u64).unwrap();
            let boot = find_boot_partition(&img, None).unwrap();
            assert_eq!(boot.index, Some(1));
        }
    }

    #[test]
    fn demo_is_deterministic() {
        let a = DemoSpec::new("raspberrypi3")
            .build()
            .unwrap()
            .to_vec()
            .unwrap();
        let b = DemoSpec::new("raspberrypi3")
            .build()
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(a, b);
    }
}
