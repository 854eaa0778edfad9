//! `surge`: serve (default), migrate, create an admin, or load demo data.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
        Command::Demo => {
            let app = build(&cfg, Arc::new(SystemClock)).await?;
            demo::load(&app).await?;
            Ok(())
        }
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
