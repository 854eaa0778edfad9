//! The kernel's own tables: outbox, processed events, idempotency keys, event retries
//! and dead letters.

use sea_orm_migration::prelude::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateKernelTables),
        Box::new(OutboxDeleteOnPublish),
        Box::new(EventRetriesAndDeadLetters),
    ]
}

struct CreateKernelTables;

impl MigrationName for CreateKernelTables {
    fn name(&self) -> &str {
        "m20261121_000001_kernel_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateKernelTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("outbox"))
                .if_not_exists()
                .col(
                    ColumnDef::new(Alias::new("id"))
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Alias::new("topic"))
                        .string_len(120)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("event_key"))
                        .string_len(120)
                        .not_null(),
                )
                .col(ColumnDef::new(Alias::new("payload")).text().not_null())
                .col(
                    ColumnDef::new(Alias::new("occurred_at"))
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("published_at"))
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(Alias::new("attempts"))
                        .integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbox_pending")
                .table(Alias::new("outbox"))
                .col(Alias::new("published_at"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("processed_events"))
                .if_not_exists()
                .col(
                    ColumnDef::new(Alias::new("consumer"))
                        .string_len(100)
                        .not_null(),
                )
                .col(ColumnDef::new(Alias::new("event_id")).uuid().not_null())
                .col(
                    ColumnDef::new(Alias::new("handled_at"))
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Alias::new("consumer"))
                        .col(Alias::new("event_id")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("idempotency_keys"))
                .if_not_exists()
                .col(
                    ColumnDef::new(Alias::new("scope"))
                        .string_len(150)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("idem_key"))
                        .string_len(150)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("request_hash"))
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(Alias::new("status_code")).integer().null())
                .col(ColumnDef::new(Alias::new("response_body")).text().null())
                .col(
                    ColumnDef::new(Alias::new("created_at"))
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Alias::new("expires_at"))
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Alias::new("scope"))
                        .col(Alias::new("idem_key")),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_idempotency_expiry")
                .table(Alias::new("idempotency_keys"))
                .col(Alias::new("expires_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["idempotency_keys", "processed_events", "outbox"] {
            m.drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The relay deletes an outbox row once the bus took it instead of stamping it
/// published: a DELETE is cheaper than an UPDATE that moves an indexed column (new
/// tuple, new index entries), and every row left in the table is pending. The event
/// log itself lives on the bus (NATS JetStream keeps it when scaled out).
struct OutboxDeleteOnPublish;

impl MigrationName for OutboxDeleteOnPublish {
    fn name(&self) -> &str {
        "m20261122_000002_outbox_delete_on_publish"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxDeleteOnPublish {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let outbox = || Alias::new("outbox");
        let published = || Alias::new("published_at");
        m.exec_stmt(
            Query::delete()
                .from_table(outbox())
                .and_where(Expr::col(published()).is_not_null())
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_outbox_pending")
                .table(outbox())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(outbox())
                .drop_column(published())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("outbox"))
                .add_column(
                    ColumnDef::new(Alias::new("published_at"))
                        .big_integer()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }
}

/// Per-consumer retries of events a handler failed, and the dead letters they end as:
/// one consumer's failing event is parked here instead of holding up the outbox.
struct EventRetriesAndDeadLetters;

impl MigrationName for EventRetriesAndDeadLetters {
    fn name(&self) -> &str {
        "m20261201_000003_event_retries_and_dead_letters"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EventRetriesAndDeadLetters {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use schema::{big, id, index, int, text, uuid};
        let error = |n: &str| ColumnDef::new(Alias::new(n)).text().not_null().to_owned();
        for (table, last) in [("event_retries", "last_error"), ("dead_letters", "error")] {
            let mut t = Table::create()
                .table(Alias::new(table))
                .if_not_exists()
                .col(id())
                .col(text("consumer", 100))
                .col(uuid("event_id"))
                .col(text("topic", 120))
                .col(text("event_key", 120))
                .col(ColumnDef::new(Alias::new("payload")).text().not_null())
                .col(big("occurred_at"))
                .col(int("attempts"))
                .col(error(last))
                .col(big("created_at"))
                .to_owned();
            if table == "event_retries" {
                t.col(big("next_attempt_at"));
            }
            m.create_table(t).await?;
            index(
                m,
                &format!("ux_{table}_consumer_event"),
                table,
                &["consumer", "event_id"],
                true,
            )
            .await?;
        }
        index(
            m,
            "ix_event_retries_due",
            "event_retries",
            &["next_attempt_at"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["dead_letters", "event_retries"] {
            m.drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Column and index shorthands for module migrations (every column NOT NULL unless
/// built by hand; times are epoch-millisecond BIGINTs).
pub mod schema {
    use sea_orm_migration::prelude::*;

    pub fn a(n: &str) -> Alias {
        Alias::new(n)
    }

    /// A UUID primary key named `id`.
    pub fn id() -> ColumnDef {
        ColumnDef::new(a("id"))
            .uuid()
            .not_null()
            .primary_key()
            .to_owned()
    }

    pub fn uuid(n: &str) -> ColumnDef {
        ColumnDef::new(a(n)).uuid().not_null().to_owned()
    }

    pub fn big(n: &str) -> ColumnDef {
        ColumnDef::new(a(n)).big_integer().not_null().to_owned()
    }

    pub fn int(n: &str) -> ColumnDef {
        ColumnDef::new(a(n)).integer().not_null().to_owned()
    }

    pub fn text(n: &str, len: u32) -> ColumnDef {
        ColumnDef::new(a(n)).string_len(len).not_null().to_owned()
    }

    pub async fn index(
        m: &SchemaManager<'_>,
        name: &str,
        table: &str,
        cols: &[&str],
        unique: bool,
    ) -> Result<(), DbErr> {
        let mut idx = Index::create().name(name).table(a(table)).to_owned();
        for c in cols {
            idx.col(a(c));
        }
        if unique {
            idx.unique();
        }
        m.create_index(idx).await
    }
}
