//! What token authentication costs per request: `Authenticator::authenticate` for a stored API
//! token (cached, the steady state, and uncached, a store lookup every time) and for the
//! bootstrap admin token, plus a whole authenticated request vs a public one over loopback HTTP.
//! Usage: `cargo run --release --example auth_latency [ITERATIONS]` (default 20000).

use homeostat::api::Authenticator;
use homeostat::config::Role;
use homeostat::security::tokens::{self, TokenKind};
use homeostat::store::{NewToken, Store};
use std::error::Error;
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<34} p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(1.0).as_secs_f64() * 1e6
    );
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("auth.db").display()
    ))
    .await?;
    let secret = tokens::generate();
    store
        .add_token(&NewToken {
            kind: TokenKind::Api,
            name: "bench",
            digest: &tokens::digest(&secret),
            role: Role::Viewer,
            owner: None,
            created_by: "bench",
            expires_at: None,
        })
        .await?;
    let auth = Authenticator::new(Some("bootstrap".into())).with_store(store.clone(), []);
    // Warm up.
    for _ in 0..1000 {
        auth.authenticate(&secret).await?;
    }
    report(
        "API token (cached)",
        time(n, || async {
            let p = auth.authenticate(&secret).await.ok().flatten();
            assert!(p.is_some());
        })
        .await,
    );
    report(
        "API token (store lookup each time)",
        time(n.min(5000), || async {
            auth.forget();
            let p = auth.authenticate(&secret).await.ok().flatten();
            assert!(p.is_some());
        })
        .await,
    );
    report(
        "bootstrap admin token",
        time(n, || async {
            let p = auth.authenticate("bootstrap").await.ok().flatten();
            assert!(p.is_some());
        })
        .await,
    );
    report(
        "unknown token (cached miss)",
        time(n, || async {
            let p = auth.authenticate("hst_nope").await.ok().flatten();
            assert!(p.is_none());
        })
        .await,
    );
    store.close().await;
    Ok(())
}
