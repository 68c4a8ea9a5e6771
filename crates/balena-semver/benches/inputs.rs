//! Deterministic benchmark inputs shared by the criterion bench and the
//! `bench_inputs` example (which hands the same list to the Node.js
//! baseline): realistic balenaOS version strings of every kind seen in
//! `shared/catalog/os-versions.json` and the vectors, and realistic ranges.

/// SplitMix64: small, seeded, identical everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The seed of every input list.
pub const SEED: u64 = 0x00ba_1e4a_05e5;
/// How many version strings to sort.
pub const VERSIONS: usize = 100_000;
/// How many `satisfies` calls to make.
pub const SATISFIES_CALLS: usize = 100_000;

/// Ranges as HUP rules, ESR tags and SDK callers write them.
pub const RANGES: &[&str] = &[
    "^2.0.0",
    "~2.88",
    ">=2.14.0+rev1",
    "<2.16.0+rev1",
    "2.x",
    "^6.0.0 || ^7.0.0",
    ">=2.0.0 <3.0.0",
    "2022.x",
    "~2022.10",
    "*",
    ">=2.58.3 <2.88.5",
    "1.2 - 2.3",
    "^2019.04.0",
    ">=6.0.39",
    "6.0.39",
    "^2.0.0-0",
    ">= 2.12.7 < 2.29.2",
    "~6.0.39 || >=7.4.0",
];

/// One realistic version string.
pub fn version(rng: &mut Rng) -> String {
    let kind = rng.below(100);
    let m = rng.below(120);
    let p = rng.below(40);
    let rev = 1 + rng.below(9);
    let variant = rng.pick(&[".prod", ".dev", ""]);
    match kind {
        // Modern releases: 6.0.13, 5.1.20+rev2.
        0..=29 => {
            let major = 2 + rng.below(6);
            if rng.below(3) == 0 {
                format!("{major}.{m}.{p}+rev{rev}")
            } else {
                format!("{major}.{m}.{p}")
            }
        }
        // balenaOS 2.x with revision and variant: 2.88.4+rev1.prod.
        30..=54 => format!("2.{m}.{p}+rev{rev}{variant}"),
        // Dotted suffixes: 2.88.4.prod, 2.0.0.rev1.
        55..=62 => format!(
            "2.{m}.{p}{}",
            rng.pick(&[".prod", ".dev", ".rev1", ".rev2"])
        ),
        // ESR calendar versions: 2022.10.1, 2021.07.1.prod.
        63..=74 => {
            let year = 2019 + rng.below(7);
            let month = rng.pick(&["01", "04", "07", "10", "1", "4", "7", "10"]);
            format!("{year}.{month}.{}{variant}", rng.below(4))
        }
        // Prefixed: v2.0.0, balenaOS 2.88.4, Resin OS 1.16.0.
        75..=84 => {
            let prefix = rng.pick(&["v", "balenaOS ", "Resin OS ", "  Resin OS "]);
            format!("{prefix}{}.{m}.{p}", 1 + rng.below(2))
        }
        // Pre-releases: 2.0.0-rc1.rev1, 2.0.0-beta10.rev1, 6.0.39-1720000000000.
        85..=94 => {
            let pre = rng.pick(&[
                "-rc1.rev1",
                "-beta10.rev1",
                "-beta.9",
                "-rc.1.rev1",
                "-p1",
                "-1720000000000",
            ]);
            format!("{}.{m}.{p}{pre}", 2 + rng.below(5))
        }
        // Old parenthesised variants: 2.0.1 (prod), Resin OS 1.8.0 (fido).
        95..=98 => format!(
            "{}.{m}.{p} ({})",
            1 + rng.below(2),
            rng.pick(&["prod", "dev", "fido"])
        ),
        // The odd invalid one: Linux 14.04.
        _ => rng
            .pick(&["Linux 14.04", "Ubuntu 16.04.1", "foobar"])
            .to_owned(),
    }
}

/// The version strings to sort.
pub fn versions() -> Vec<String> {
    let mut rng = Rng::new(SEED);
    (0..VERSIONS).map(|_| version(&mut rng)).collect()
}

/// The (version index, range index) of each satisfies call.
pub fn satisfies_pairs(versions: usize) -> Vec<(usize, usize)> {
    let mut rng = Rng::new(SEED ^ 0x5a71_5f1e);
    (0..SATISFIES_CALLS)
        .map(|_| {
            (
                rng.below(versions as u64) as usize,
                rng.below(RANGES.len() as u64) as usize,
            )
        })
        .collect()
}
