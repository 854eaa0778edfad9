//! `surge`: serve (default), migrate, create an admin, or load demo data.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use surge_careers::domain::{SyncStatus, SyncTrigger};
use surge_careers::sources::{SyncCounts, SyncProgress};
use surge_identity::domain::{Email, Nickname, Password};
use surge_kernel::auth::Role;
use surge_kernel::clock::SystemClock;
use surge_server::{build, connect_and_migrate, demo, web, Config};
use tracing_subscriber::EnvFilter;

/// glibc's allocator took about a third of the server's CPU under the flash-sale load
/// (and kept freed memory); mimalloc is faster for many small, short-lived allocations.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "surge",
    version,
    about = "One backend for high-traffic products"
)]
struct Cli {
    /// Configuration file (default: ./surge.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply every module's database migrations and exit.
    Migrate,
    /// Manage accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load a small, realistic demo data set.
    Demo,
    /// Careers maintenance.
    Careers {
        #[command(subcommand)]
        command: CareersCommand,
    },
    /// Community maintenance.
    Community {
        #[command(subcommand)]
        command: CommunityCommand,
    },
    /// Batch jobs.
    Batch {
        #[command(subcommand)]
        command: BatchCommand,
    },
    /// Billing maintenance.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Subcommand)]
enum BatchCommand {
    /// Run a batch job now, in this process (one runner across instances: it waits for
    /// the lease while another runner holds it).
    Run {
        /// `nightly`: renew PRO subscriptions due, end cancelled and thrice-failed ones,
        /// delete old usage rows.
        job: String,
        /// The Korean day to run for (YYYY-MM-DD); default today (KST).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Write N ACTIVE PRO subscriptions due on a date (benchmark data; multi-row inserts).
    Generate {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// The day their period ends (YYYY-MM-DD).
        #[arg(long)]
        due: String,
    },
}

#[derive(Subcommand)]
enum CareersCommand {
    /// Rebuild this data dir's posting search index from the database (with the
    /// server of this data dir stopped: one writer per index).
    Reindex,
    /// Sync job sources now (all configured ones, or SOURCE) and print what changed.
    /// Embedded: with the server of this data dir stopped (it holds the search index;
    /// the server indexes the changes when it starts again).
    Sync {
        /// A `[careers.sources.<name>]` name; default: every configured source.
        source: Option<String>,
    },
    /// Bulk-load synthetic postings for the search benchmark (no events; the index is
    /// rebuilt afterwards). Running it again adds only those not there yet.
    Generate {
        /// How many postings (generated posting `n` is always the same).
        #[arg(long, default_value_t = 100_000)]
        count: u64,
    },
}

#[derive(Subcommand)]
enum CommunityCommand {
    /// Bulk-load synthetic posts across Korea for the radius benchmark (no events),
    /// written by the account `community-bench@surge.local` (created if missing).
    /// Running it again adds only those not there yet.
    Generate {
        /// How many posts (generated post `n` is always the same, in the same place).
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an ADMIN account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        nickname: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = Config::load(cli.config.as_deref()).context("reading configuration")?;
    init_logging(&cfg);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            connect_and_migrate(&cfg).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    nickname,
                },
        } => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            let email = Email::parse(&email)?;
            let nickname = Nickname::parse(&nickname)?;
            let password = Password::parse(&password)?;
            let user = app
                .identity
                .create_user(&email, Some(&password), &nickname, Role::Admin)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created admin {} ({})", user.email, user.id);
            Ok(())
        }
        Command::Community {
            command: CommunityCommand::Generate { count },
        } => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            let email = Email::parse("community-bench@surge.local")?;
            let author = match app.identity.user_id_by_email(&email).await {
                Ok(Some(id)) => id,
                Ok(None) => {
                    let nickname = Nickname::parse("날씨봇")?;
                    app.identity
                        .create_user(&email, None, &nickname, Role::User)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .id
                }
                Err(e) => anyhow::bail!("{e}"),
            };
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(count);
            let added = app
                .community
                .generator
                .generate(count, &[author], |done| bar.set_position(done))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "added {added} posts in {secs:.1}s ({:.0} rows/s)",
                added as f64 / secs.max(0.001)
            );
            Ok(())
        }
        Command::Demo => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            demo::load(&app).await?;
            Ok(())
        }
        Command::Careers {
            command: CareersCommand::Reindex,
        } => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            let started = std::time::Instant::now();
            let bar = reindex_bar();
            let count = app
                .careers
                .search
                .rebuild_with(|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            bar.finish_and_clear();
            println!(
                "indexed {count} postings in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Careers {
            command: CareersCommand::Sync { source },
        } => careers_sync(&cfg, source).await,
        Command::Batch {
            command: BatchCommand::Run { job, date },
        } => batch_run(&cfg, &job, date.as_deref()).await,
        Command::Billing {
            command: BillingCommand::Generate { count, due },
        } => {
            let due = surge_billing::domain::parse_day(&due)
                .with_context(|| format!("--due {due}: expected YYYY-MM-DD"))?;
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(count);
            let written = app
                .billing
                .generator
                .due_subscriptions(count, due, &|done| bar.set_position(done))
                .await?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "wrote {written} subscriptions due {due} in {secs:.1}s ({:.0} rows/s)",
                written as f64 / secs.max(0.001)
            );
            Ok(())
        }
        Command::Careers {
            command: CareersCommand::Generate { count },
        } => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            let started = std::time::Instant::now();
            let added = app
                .careers
                .generator
                .generate(count, |done| {
                    if done % 10_000 == 0 || done == count {
                        eprintln!("  {done}/{count} postings");
                    }
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let inserted = started.elapsed();
            let started = std::time::Instant::now();
            let bar = reindex_bar();
            let indexed = app
                .careers
                .search
                .rebuild_with(|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            bar.finish_and_clear();
            println!(
                "added {added} postings in {:.1}s; indexed {indexed} postings in {:.1}s",
                inserted.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// `surge careers sync [SOURCE]`: each source synced in this process, a progress bar
/// per run, its counts printed at the end. Fails if a run fails.
async fn careers_sync(cfg: &Config, source: Option<String>) -> anyhow::Result<()> {
    let app = build(cfg, Arc::new(SystemClock)).await?;
    let sources = app.careers.sources.clone();
    let names = match source {
        Some(s) => vec![s],
        None => sources.names(),
    };
    anyhow::ensure!(
        !names.is_empty(),
        "no job source is configured ([careers.sources.<name>] in surge.toml)"
    );
    let mut failed = 0;
    for name in names {
        let bar = SyncBar::new(&name);
        let started = std::time::Instant::now();
        let run = sources
            .sync(&name, SyncTrigger::Cli, &bar)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.detail))?;
        bar.0.finish_and_clear();
        println!(
            "{name}: {:?} in {:.1}s — new {}, updated {}, closed {}, failed {}{}",
            run.status,
            started.elapsed().as_secs_f64(),
            run.new,
            run.updated,
            run.closed,
            run.failed,
            run.error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
        if run.status != SyncStatus::Succeeded {
            failed += 1;
        }
    }
    anyhow::ensure!(failed == 0, "{failed} sync run(s) failed");
    Ok(())
}

/// `surge batch run nightly [--date YYYY-MM-DD]`: waits for the lease if another runner
/// holds it (a killed runner's lease expires after `SURGE_BILLING_BATCH_LEASE_SECS`),
/// shows a progress bar, prints the run's counts, duration and rate.
async fn batch_run(cfg: &Config, job: &str, date: Option<&str>) -> anyhow::Result<()> {
    use surge_billing::batch::{BatchError, Progress, NIGHTLY};
    anyhow::ensure!(
        job == NIGHTLY,
        "unknown batch job {job:?} (known: {NIGHTLY})"
    );
    let day = match date {
        Some(d) => Some(
            surge_billing::domain::parse_day(d)
                .with_context(|| format!("--date {d}: expected YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let app = build(cfg, Arc::new(SystemClock)).await?;
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "nightly [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
    ) {
        bar.set_style(style);
    }
    let show = |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(cfg.billing_batch_lease_secs.max(1) * 3 + 10);
    let report = loop {
        match app.billing.batch.run_nightly(day, &show).await {
            Err(BatchError::Busy { holder, .. }) if std::time::Instant::now() < deadline => {
                eprintln!("waiting for the nightly lease held by {holder}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => break other?,
        }
    };
    bar.finish_and_clear();
    let c = report.counts;
    let secs = report.duration_ms as f64 / 1000.0;
    let rows = c.charged + c.failed + c.downgraded + c.skipped + c.held;
    println!(
        "nightly {}: charged {}, failed {}, downgraded {}, skipped {}, held {}, usage rows deleted {} in {secs:.1}s ({:.0} subscriptions/s)",
        report.day, c.charged, c.failed, c.downgraded, c.skipped, c.held, report.deleted_usage,
        rows as f64 / secs.max(0.001)
    );
    Ok(())
}

/// `surge careers reindex`'s progress on the terminal: postings indexed of all.
fn reindex_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "indexing [{elapsed_precise}] {wide_bar} {pos}/{len} postings ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

/// A run's progress on the terminal: items read of the source's total when it says.
struct SyncBar(indicatif::ProgressBar);

impl SyncBar {
    fn new(name: &str) -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_owned());
        Self(bar)
    }
}

impl SyncProgress for SyncBar {
    fn page(&self, c: &SyncCounts, seen: u64, total: Option<u64>) {
        if let Some(t) = total {
            self.0.set_length(t.max(seen));
        }
        self.0.set_position(seen);
        self.0.set_message(format!(
            "new {} updated {} closed {} failed {}",
            c.new, c.updated, c.closed, c.failed
        ));
    }
}

fn init_logging(cfg: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let mut app = build(&cfg, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(&cfg.bind)
        .await
        .with_context(|| format!("binding {}", cfg.bind))?;
    let addr = listener.local_addr()?;
    let tasks = app.spawn_tasks();
    tracing::info!(describe = %app.describe, "surge started");
    println!("Surge is listening on http://{addr}");
    println!("API docs: http://{addr}/docs   (OpenAPI: http://{addr}/api/openapi.json)");
    println!("Running with {}", app.describe);
    web::serve(listener, app.router.clone(), (&cfg).into()).await?;
    for t in tasks {
        t.abort();
    }
    app.foundation.db.clone().close().await.ok();
    tracing::info!("stopped");
    Ok(())
}
