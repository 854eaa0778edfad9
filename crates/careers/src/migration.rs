//! The careers tables. A posting is unique per (source, source_id) so later ingestion
//! upserts; skills sit in a child table to filter on; a user has one balance row that
//! only moves by conditional updates, and one ledger row per change, unique per
//! change key; one live application per (program, mentee) by `live_key`; one reminder
//! per (user, posting, deadline).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateCareersTables), Box::new(CreateSyncTables)]
}

struct CreateCareersTables;

impl MigrationName for CreateCareersTables {
    fn name(&self) -> &str {
        "m20261201_000600_careers_tables"
    }
}

fn long_text(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCareersTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("careers_postings"))
                .if_not_exists()
                .col(id())
                .col(text("source", 20))
                .col(text("source_id", 100))
                .col(text("title", 200))
                .col(text("company", 100))
                .col(text("location", 50))
                .col(text("district", 50))
                .col(text("category", 50))
                .col(long_text("skills"))
                .col(int("experience_min"))
                .col(ColumnDef::new(a("experience_max")).integer().null())
                .col(ColumnDef::new(a("newbie")).boolean().not_null())
                .col(text("employment_type", 16))
                .col(ColumnDef::new(a("deadline")).big_integer().null())
                .col(big("deadline_key"))
                .col(ColumnDef::new(a("remind_at")).big_integer().null())
                .col(text("url", 500))
                .col(long_text("description"))
                .col(big("posted_at"))
                .col(text("status", 16))
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_careers_postings_source",
            "careers_postings",
            &["source", "source_id"],
            true,
        )
        .await?;
        index(
            m,
            "ix_careers_postings_recent",
            "careers_postings",
            &["status", "posted_at", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_careers_postings_deadline",
            "careers_postings",
            &["status", "deadline_key", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_careers_postings_remind",
            "careers_postings",
            &["status", "remind_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_posting_skills"))
                .if_not_exists()
                .col(uuid("posting_id"))
                .col(text("skill", 40))
                .primary_key(Index::create().col(a("posting_id")).col(a("skill")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_careers_posting_skills_skill",
            "careers_posting_skills",
            &["skill", "posting_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_scraps"))
                .if_not_exists()
                .col(uuid("user_id"))
                .col(uuid("posting_id"))
                .col(ColumnDef::new(a("active")).boolean().not_null())
                .col(big("scrapped_at"))
                .col(big("updated_at"))
                .primary_key(Index::create().col(a("user_id")).col(a("posting_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_careers_scraps_posting",
            "careers_scraps",
            &["posting_id", "active"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_point_balances"))
                .if_not_exists()
                .col(ColumnDef::new(a("user_id")).uuid().not_null().primary_key())
                .col(big("balance"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("careers_point_ledger"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(big("delta"))
                .col(big("balance_after"))
                .col(text("reason", 20))
                .col(text("change_key", 100))
                .col(ColumnDef::new(a("subject_id")).uuid().null())
                .col(text("note", 200))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_careers_point_ledger_key",
            "careers_point_ledger",
            &["change_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_careers_point_ledger_user",
            "careers_point_ledger",
            &["user_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_programs"))
                .if_not_exists()
                .col(id())
                .col(uuid("mentor_id"))
                .col(text("title", 200))
                .col(long_text("description"))
                .col(long_text("skills"))
                .col(text("tags", 900))
                .col(int("capacity"))
                .col(int("accepted"))
                .col(big("cost_points"))
                .col(big("starts_at"))
                .col(big("ends_at"))
                .col(text("status", 16))
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_careers_programs_list",
            "careers_programs",
            &["status", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_careers_programs_mentor",
            "careers_programs",
            &["mentor_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_applications"))
                .if_not_exists()
                .col(id())
                .col(uuid("program_id"))
                .col(uuid("user_id"))
                .col(text("status", 16))
                .col(big("cost_points"))
                .col(ColumnDef::new(a("live_key")).string_len(80).null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_careers_applications_live",
            "careers_applications",
            &["live_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_careers_applications_program",
            "careers_applications",
            &["program_id", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_careers_applications_user",
            "careers_applications",
            &["user_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("careers_reminders"))
                .if_not_exists()
                .col(uuid("user_id"))
                .col(uuid("posting_id"))
                .col(big("deadline"))
                .col(big("sent_at"))
                .primary_key(
                    Index::create()
                        .col(a("user_id"))
                        .col(a("posting_id"))
                        .col(a("deadline")),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

/// Job source and news ingestion: one row per sync run, the lease rows that make one
/// runner per source across instances, news items (unique per feed and guid) and each
/// feed's last validators (ETag / Last-Modified) for conditional GETs.
struct CreateSyncTables;

impl MigrationName for CreateSyncTables {
    fn name(&self) -> &str {
        "m20261201_000610_careers_sync_runs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSyncTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("careers_sync_runs"))
                .if_not_exists()
                .col(id())
                .col(text("source", 20))
                .col(text("trigger", 16))
                .col(big("started_at"))
                .col(ColumnDef::new(a("finished_at")).big_integer().null())
                .col(text("status", 16))
                .col(big("new_postings"))
                .col(big("updated_postings"))
                .col(big("closed_postings"))
                .col(big("failed_items"))
                .col(ColumnDef::new(a("error")).string_len(500).null())
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_careers_sync_runs_source",
            "careers_sync_runs",
            &["source", "id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("careers_leases"))
                .if_not_exists()
                .col(
                    ColumnDef::new(a("name"))
                        .string_len(60)
                        .not_null()
                        .primary_key(),
                )
                .col(text("holder", 40))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("careers_news"))
                .if_not_exists()
                .col(id())
                .col(text("feed", 20))
                .col(text("guid", 300))
                .col(text("title", 300))
                .col(text("url", 500))
                .col(long_text("summary"))
                .col(big("published_at"))
                .col(text("companies", 500))
                .col(long_text("search_text"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_careers_news_guid",
            "careers_news",
            &["feed", "guid"],
            true,
        )
        .await?;
        index(
            m,
            "ix_careers_news_recent",
            "careers_news",
            &["published_at", "id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("careers_feeds"))
                .if_not_exists()
                .col(
                    ColumnDef::new(a("name"))
                        .string_len(20)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(a("etag")).string_len(300).null())
                .col(ColumnDef::new(a("last_modified")).string_len(100).null())
                .col(big("fetched_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
