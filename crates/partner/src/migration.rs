//! The partner tables. Room membership counts move only through conditional writes
//! (`member_count < capacity`), memberships are unique per (room, user), a user has at
//! most one waiting application per category (`partner_applications.live_key`), and a
//! review is unique per (match, reviewer, reviewee).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreatePartnerTables)]
}

struct CreatePartnerTables;

impl MigrationName for CreatePartnerTables {
    fn name(&self) -> &str {
        "m20261122_000500_partner_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePartnerTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("partner_rooms"))
                .if_not_exists()
                .col(id())
                .col(uuid("author_id"))
                .col(text("category", 10))
                .col(text("title", 100))
                .col(ColumnDef::new(a("body")).text().not_null())
                .col(int("capacity"))
                .col(int("member_count"))
                .col(big("meets_at"))
                .col(ColumnDef::new(a("anonymous")).boolean().not_null())
                .col(ColumnDef::new(a("conditions")).text().not_null())
                // "|SEOCHO|DELIVERY|ANY_WAY|..." for filtering lists by condition.
                .col(text("tags", 200))
                .col(text("status", 10))
                .col(ColumnDef::new(a("deleted")).boolean().not_null())
                .col(ColumnDef::new(a("match_id")).uuid().null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_rooms_list",
            "partner_rooms",
            &["category", "status", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("partner_members"))
                .if_not_exists()
                .col(uuid("room_id"))
                .col(uuid("user_id"))
                .col(big("joined_at"))
                .primary_key(Index::create().col(a("room_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_members_user",
            "partner_members",
            &["user_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("partner_comments"))
                .if_not_exists()
                .col(id())
                .col(uuid("room_id"))
                .col(uuid("author_id"))
                .col(ColumnDef::new(a("parent_id")).uuid().null())
                .col(ColumnDef::new(a("body")).text().not_null())
                .col(ColumnDef::new(a("deleted")).boolean().not_null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_comments_room",
            "partner_comments",
            &["room_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("partner_applications"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(text("category", 10))
                .col(ColumnDef::new(a("conditions")).text().not_null())
                .col(text("status", 10))
                // "<user>:<category>" while WAITING, NULL after: one live application
                // per user and category, enforced by the database.
                .col(ColumnDef::new(a("live_key")).string_len(60).null())
                .col(ColumnDef::new(a("match_id")).uuid().null())
                .col(big("created_at"))
                .col(big("expires_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_partner_applications_live",
            "partner_applications",
            &["live_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_partner_applications_queue",
            "partner_applications",
            &["category", "status", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_partner_applications_user",
            "partner_applications",
            &["user_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("partner_matches"))
                .if_not_exists()
                .col(id())
                .col(text("category", 10))
                .col(text("source", 10))
                .col(ColumnDef::new(a("room_id")).uuid().null())
                .col(ColumnDef::new(a("conditions")).text().not_null())
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("partner_match_members"))
                .if_not_exists()
                .col(uuid("match_id"))
                .col(uuid("user_id"))
                .primary_key(Index::create().col(a("match_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_match_members_user",
            "partner_match_members",
            &["user_id", "match_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("partner_reviews"))
                .if_not_exists()
                .col(id())
                .col(uuid("match_id"))
                .col(uuid("reviewer_id"))
                .col(uuid("reviewee_id"))
                .col(int("stars"))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_partner_reviews_pair",
            "partner_reviews",
            &["match_id", "reviewer_id", "reviewee_id"],
            true,
        )
        .await?;

        // Every score change is a row, unique per (user, reason, subject): replaying an
        // effect never counts twice, and a score is a sum.
        m.create_table(
            Table::create()
                .table(a("partner_activity"))
                .if_not_exists()
                .col(uuid("user_id"))
                .col(text("reason", 20))
                .col(uuid("subject_id"))
                .col(int("points"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(a("user_id"))
                        .col(a("reason"))
                        .col(a("subject_id")),
                )
                .to_owned(),
        )
        .await?;

        // One matcher per category across instances: whoever holds the lease.
        m.create_table(
            Table::create()
                .table(a("partner_leases"))
                .if_not_exists()
                .col(
                    ColumnDef::new(a("name"))
                        .string_len(40)
                        .not_null()
                        .primary_key(),
                )
                .col(text("holder", 40))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
