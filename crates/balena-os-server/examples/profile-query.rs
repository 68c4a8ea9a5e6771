//! Times planning, executing and rendering one request against a catalog.
//!
//! ```text
//! cargo run --release -p balena-os-server --example profile-query -- DATABASE_URL PATH_AND_QUERY [N]
//! ```

use std::time::Instant;

use balena_os_server::auth::Actor;
use balena_os_server::db::Db;
use balena_os_server::query::{self, QueryLimits};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(pq)) = (args.first(), args.get(1)) else {
        return Err("usage: profile-query DATABASE_URL PATH_AND_QUERY [N]".into());
    };
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let db = Db::connect(url).await?;
    let (mut t_parse, mut t_plan, mut t_exec, mut t_render) = (0.0, 0.0, 0.0, 0.0);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let (_, req) = balena_pine::PineRequest::parse(pq)?;
        t_parse += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let plan = query::plan(
            &req,
            &Actor::Anonymous,
            db.backend(),
            QueryLimits::default(),
        )?;
        t_plan += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let answer = query::execute(&db, &plan).await?;
        t_exec += t.elapsed().as_secs_f64();
        let t = Instant::now();
        bytes = query::render(&plan, &answer).len();
        t_render += t.elapsed().as_secs_f64();
    }
    let ms = |s: f64| s * 1000.0 / f64::from(n);
    println!(
        "parse {:.3} ms, plan {:.3} ms, execute {:.3} ms, render {:.3} ms, {bytes} bytes",
        ms(t_parse),
        ms(t_plan),
        ms(t_exec),
        ms(t_render)
    );
    Ok(())
}
