//! The resume tables. A resume row carries its current version's sections, its
//! counters (likes, comments, views) and the background job in progress (`due_at`,
//! `attempts`); every version is kept in `resume_versions`. One like per (resume,
//! user).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateResumeTables)]
}

struct CreateResumeTables;

impl MigrationName for CreateResumeTables {
    fn name(&self) -> &str {
        "m20261207_000300_resume_tables"
    }
}

fn long_text(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().not_null().to_owned()
}

fn nullable_text(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().null().to_owned()
}

fn nullable_big(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).big_integer().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateResumeTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("resumes"))
                .if_not_exists()
                .col(id())
                .col(uuid("owner_id"))
                .col(text("github_login", 39))
                .col(text("position", 12))
                .col(ColumnDef::new(a("school_type")).string_len(12).null())
                .col(long_text("highlights"))
                .col(text("visibility", 8))
                .col(text("status", 12))
                .col(nullable_text("failure"))
                .col(int("version"))
                .col(text("writer", 200))
                .col(nullable_text("sections"))
                .col(nullable_text("pending_instruction"))
                .col(int("attempts"))
                .col(nullable_big("due_at"))
                .col(nullable_big("use_taken_at"))
                .col(big("like_count"))
                .col(big("comment_count"))
                .col(big("view_count"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .col(nullable_big("deleted_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ix_resumes_owner", &["owner_id", "created_at", "id"][..]),
            ("ix_resumes_recent", &["visibility", "created_at", "id"]),
            ("ix_resumes_likes", &["visibility", "like_count", "id"]),
            ("ix_resumes_views", &["visibility", "view_count", "id"]),
            ("ix_resumes_due", &["due_at"]),
        ] {
            index(m, name, "resumes", cols, false).await?;
        }

        m.create_table(
            Table::create()
                .table(a("resume_versions"))
                .if_not_exists()
                .col(uuid("resume_id"))
                .col(int("version"))
                .col(text("origin", 10))
                .col(long_text("sections"))
                .col(nullable_text("instruction"))
                .col(text("writer", 200))
                .col(big("created_at"))
                .primary_key(Index::create().col(a("resume_id")).col(a("version")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("resume_likes"))
                .if_not_exists()
                .col(uuid("resume_id"))
                .col(uuid("user_id"))
                .col(big("created_at"))
                .primary_key(Index::create().col(a("resume_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_resume_likes_user",
            "resume_likes",
            &["user_id", "resume_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("resume_comments"))
                .if_not_exists()
                .col(id())
                .col(uuid("resume_id"))
                .col(uuid("author_id"))
                .col(long_text("body"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .col(nullable_big("deleted_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_resume_comments_resume",
            "resume_comments",
            &["resume_id", "id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "resume_comments",
            "resume_likes",
            "resume_versions",
            "resumes",
        ] {
            m.drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
