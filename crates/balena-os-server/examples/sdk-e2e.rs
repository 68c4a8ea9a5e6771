//! Times the Rust SDK's `get_all_os_versions_for` end to end (request,
//! JSON, OsVersion computation, sorting) against a running server: the twin
//! of `tests/js/sdk-bench.js` for the JavaScript SDK.
//!
//! ```text
//! cargo run --release -p balena-os-server --example sdk-e2e -- API_URL ITERATIONS DEVICE_TYPE...
//! ```

use std::time::Instant;

use balena_sdk::{Balena, PineOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(n)) = (args.first(), args.get(1)) else {
        return Err("usage: sdk-e2e API_URL ITERATIONS DEVICE_TYPE...".into());
    };
    let iterations: u32 = n.parse()?;
    let device_types = &args[2..];
    let balena = Balena::builder().api_url(url).build()?;
    // Options given: the SDK's memoisation does not answer from memory.
    let options = PineOptions::new();
    for _ in 0..iterations.min(20) {
        balena
            .os()
            .get_all_os_versions_for(device_types, Some(&options))
            .await?;
    }
    let start = Instant::now();
    let mut versions = 0;
    for _ in 0..iterations {
        let map = balena
            .os()
            .get_all_os_versions_for(device_types, Some(&options))
            .await?;
        versions = map.values().map(Vec::len).sum::<usize>();
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations.max(1));
    println!("{{\"iterations\":{iterations},\"ms_per_call\":{ms},\"versions\":{versions}}}");
    Ok(())
}
