//! Job-queue throughput: enqueue N no-op jobs (batched), then K workers claim and complete them,
//! on SQLite (a temp file) and PostgreSQL (a scratch database, dropped afterwards).
//! Usage: `cargo run --release --example queue_throughput [JOBS] [WORKERS] [CLAIM_BATCH]`
//! (defaults 20000, 4, 1). PostgreSQL from `HOMEOSTAT_TEST_POSTGRES`, default the local server.

use homeostat::queue::{JobQueue, JobState, NewJob};
use homeostat::store::Store;
use sqlx::Connection;
use std::error::Error;
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;

/// Jobs per `enqueue_many` transaction.
const ENQUEUE_BATCH: usize = 1000;

struct Args {
    jobs: usize,
    workers: usize,
    claim_batch: usize,
}

fn args() -> Result<Args, BoxError> {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| -> Result<usize, BoxError> {
        Ok(args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    Ok(Args {
        jobs: next(20_000)?,
        workers: next(4)?.max(1),
        claim_batch: next(1)?.max(1),
    })
}

/// Runs the benchmark on `store`; prints one line.
async fn measure(engine: &str, store: Store, args: &Args) -> Result<(), BoxError> {
    let queue = JobQueue::new(store);
    let jobs: Vec<NewJob> = (0..args.jobs)
        .map(|n| NewJob::new("bench", "noop", serde_json::json!({ "n": n })))
        .collect();
    let start = Instant::now();
    for chunk in jobs.chunks(ENQUEUE_BATCH) {
        queue.enqueue_many(chunk).await?;
    }
    let enqueue = start.elapsed();

    let processing = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..args.workers {
        let queue = queue.clone();
        let batch = args.claim_batch;
        workers.spawn(async move {
            let owner = format!("bench-{w}");
            let mut done = 0usize;
            loop {
                let claimed = queue
                    .claim_batch("bench", &owner, Duration::from_secs(60), u32::MAX, batch)
                    .await?;
                if claimed.is_empty() {
                    return Ok::<usize, BoxError>(done);
                }
                for job in claimed {
                    if !queue.complete(job.id, &owner).await? {
                        return Err(format!("job {} lost its lease", job.id).into());
                    }
                    done += 1;
                }
            }
        });
    }
    let mut completed = 0;
    while let Some(result) = workers.join_next().await {
        completed += result??;
    }
    let process = processing.elapsed();
    let total = start.elapsed();
    let succeeded = queue.counts(Some("bench")).await?[&JobState::Succeeded];
    if completed != args.jobs || succeeded != args.jobs as u64 {
        return Err(format!(
            "{engine}: completed {completed}, succeeded {succeeded}, expected {}",
            args.jobs
        )
        .into());
    }
    let rate = |d: Duration| args.jobs as f64 / d.as_secs_f64();
    println!(
        "{engine:<10} jobs={} workers={} claim_batch={}  enqueue {:>8.0} jobs/s  claim+complete {:>7.0} jobs/s  end-to-end {:>7.0} jobs/s ({:.2} s)",
        args.jobs,
        args.workers,
        args.claim_batch,
        rate(enqueue),
        rate(process),
        rate(total),
        total.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await?;
    measure("sqlite", store.clone(), &args).await?;
    store.close().await;

    let admin = std::env::var("HOMEOSTAT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("homeostat_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    let result = async {
        let store = Store::connect(&format!("{base}/{name}")).await?;
        let result = measure("postgres", store.clone(), &args).await;
        store.close().await;
        result
    }
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    result
}
