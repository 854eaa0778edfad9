//! The community tables. A post keeps its geohash cells of three lengths, each indexed
//! with the creation time and the place, so a radius search reads each cell newest
//! first and passes over what is outside the circle's box in the index; its
//! counters (votes, views, comments) sit on the row and move by relative updates. One
//! vote per (post, user); comments point at their post and, for replies, their parent.

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateCommunityTables),
        Box::new(CreateMissionTables),
        Box::new(AddVerifierNote),
        Box::new(CoveringCellIndexes),
    ]
}

struct CreateCommunityTables;

impl MigrationName for CreateCommunityTables {
    fn name(&self) -> &str {
        "m20261201_000700_community_tables"
    }
}

fn double(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).double().not_null().to_owned()
}

fn long_text(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCommunityTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("community_posts"))
                .if_not_exists()
                .col(id())
                .col(uuid("author_id"))
                .col(text("title", 400))
                .col(long_text("body"))
                .col(double("latitude"))
                .col(double("longitude"))
                .col(ColumnDef::new(a("place_name")).string_len(400).null())
                .col(text("cell4", 4))
                .col(text("cell5", 5))
                .col(text("cell6", 6))
                .col(long_text("image_ids"))
                .col(big("up_count"))
                .col(big("down_count"))
                .col(big("view_count"))
                .col(big("comment_count"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .col(ColumnDef::new(a("deleted_at")).big_integer().null())
                .to_owned(),
        )
        .await?;
        for level in ["cell4", "cell5", "cell6"] {
            index(
                m,
                &format!("ix_community_posts_{level}"),
                "community_posts",
                &[level, "created_at", "id"],
                false,
            )
            .await?;
        }
        index(
            m,
            "ix_community_posts_latitude",
            "community_posts",
            &["latitude"],
            false,
        )
        .await?;
        index(
            m,
            "ix_community_posts_author",
            "community_posts",
            &["author_id", "created_at", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_votes"))
                .if_not_exists()
                .col(uuid("post_id"))
                .col(uuid("user_id"))
                .col(text("kind", 8))
                .col(big("created_at"))
                .col(big("updated_at"))
                .primary_key(Index::create().col(a("post_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_comments"))
                .if_not_exists()
                .col(id())
                .col(uuid("post_id"))
                .col(ColumnDef::new(a("parent_id")).uuid().null())
                .col(uuid("author_id"))
                .col(long_text("body"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .col(ColumnDef::new(a("deleted_at")).big_integer().null())
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_community_comments_post",
            "community_comments",
            &["post_id", "created_at", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_community_comments_parent",
            "community_comments",
            &["parent_id", "created_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_images"))
                .if_not_exists()
                .col(id())
                .col(uuid("owner_id"))
                .col(text("content_type", 20))
                .col(int("width"))
                .col(int("height"))
                .col(big("size_bytes"))
                .col(big("created_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "community_images",
            "community_comments",
            "community_votes",
            "community_posts",
        ] {
            m.drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Missions, the missions given to users (one per user, KST day and slot, backed by a
/// unique key), point entries (one per mission history: a mission pays once) and point
/// totals per period, indexed by (period, points) so a rank is one index range count.
struct CreateMissionTables;

impl MigrationName for CreateMissionTables {
    fn name(&self) -> &str {
        "m20261206_000100_community_missions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMissionTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("community_missions"))
                .if_not_exists()
                .col(id())
                .col(text("title", 400))
                .col(long_text("description"))
                .col(big("points"))
                .col(text("slot", 10))
                .col(ColumnDef::new(a("active")).boolean().not_null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_community_missions_slot",
            "community_missions",
            &["slot", "active"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_mission_histories"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(uuid("mission_id"))
                .col(text("day", 10))
                .col(text("slot", 10))
                .col(text("status", 20))
                .col(big("points"))
                .col(ColumnDef::new(a("proof_image_id")).uuid().null())
                .col(ColumnDef::new(a("submitted_at")).big_integer().null())
                .col(ColumnDef::new(a("decided_at")).big_integer().null())
                .col(ColumnDef::new(a("decided_by")).uuid().null())
                .col(ColumnDef::new(a("reject_reason")).string_len(1000).null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_community_mission_histories_user_day_slot",
            "community_mission_histories",
            &["user_id", "day", "slot"],
            true,
        )
        .await?;
        index(
            m,
            "ix_community_mission_histories_review",
            "community_mission_histories",
            &["status", "submitted_at", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_point_entries"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(uuid("history_id"))
                .col(big("points"))
                .col(text("reason", 400))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_community_point_entries_history",
            "community_point_entries",
            &["history_id"],
            true,
        )
        .await?;
        index(
            m,
            "ix_community_point_entries_user",
            "community_point_entries",
            &["user_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("community_point_totals"))
                .if_not_exists()
                .col(text("period", 12))
                .col(uuid("user_id"))
                .col(big("points"))
                .col(big("updated_at"))
                .primary_key(Index::create().col(a("period")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_community_point_totals_rank",
            "community_point_totals",
            &["period", "points", "user_id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "community_point_totals",
            "community_point_entries",
            "community_mission_histories",
            "community_missions",
        ] {
            m.drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// What the automatic verifier said of a proof it left to the admins (uncertain, or
/// unreachable), so the reviewer sees why it came to them.
struct AddVerifierNote;

impl MigrationName for AddVerifierNote {
    fn name(&self) -> &str {
        "m20261207_000100_community_verifier_note"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddVerifierNote {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(a("community_mission_histories"))
                .add_column(ColumnDef::new(a("verifier_note")).string_len(1000).null())
                .to_owned(),
        )
        .await
    }
}

/// A radius search reads the newest posts of each cover cell and keeps those inside
/// the circle's box: with the place (and `deleted_at`) in the cell indexes, entries
/// outside are passed over in the index, never looked up in the table.
struct CoveringCellIndexes;

impl MigrationName for CoveringCellIndexes {
    fn name(&self) -> &str {
        "m20261207_000200_community_covering_cell_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CoveringCellIndexes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for level in ["cell4", "cell5", "cell6"] {
            index(
                m,
                &format!("ix_community_posts_{level}_place"),
                "community_posts",
                &[
                    level,
                    "created_at",
                    "id",
                    "latitude",
                    "longitude",
                    "deleted_at",
                ],
                false,
            )
            .await?;
            m.drop_index(
                Index::drop()
                    .name(format!("ix_community_posts_{level}"))
                    .table(a("community_posts"))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
