//! The chat tables. A message is unique per (room, seq), so no two messages share a
//! place in a room's order, and per (room, sender, client_id), so a resend is stored
//! once; a membership is unique per (room, user). A weather-alert room is unique per
//! province; an alert per `alert_key`; a follow per (user, province); a notice per
//! (opening, follower).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateChatTables), Box::new(WeatherAlertRooms)]
}

struct CreateChatTables;

impl MigrationName for CreateChatTables {
    fn name(&self) -> &str {
        "m20261201_000750_chat_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateChatTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("chat_rooms"))
                .if_not_exists()
                .col(id())
                .col(text("kind", 16))
                .col(text("name", 100))
                .col(text("description", 500))
                .col(text("status", 16))
                .col(big("last_seq"))
                .col(int("member_count"))
                .col(uuid("created_by"))
                .col(big("created_at"))
                .col(big("last_message_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_chat_rooms_listing",
            "chat_rooms",
            &["status", "last_message_at", "id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_members"))
                .if_not_exists()
                .col(uuid("room_id"))
                .col(uuid("user_id"))
                .col(big("last_read_seq"))
                .col(big("joined_at"))
                .primary_key(Index::create().col(a("room_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_chat_members_user",
            "chat_members",
            &["user_id", "room_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_messages"))
                .if_not_exists()
                .col(id())
                .col(uuid("room_id"))
                .col(big("seq"))
                .col(uuid("sender_id"))
                .col(text("client_id", 64))
                .col(ColumnDef::new(a("body")).text().not_null())
                .col(big("sent_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_chat_messages_seq",
            "chat_messages",
            &["room_id", "seq"],
            true,
        )
        .await?;
        index(
            m,
            "ux_chat_messages_client",
            "chat_messages",
            &["room_id", "sender_id", "client_id"],
            true,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["chat_messages", "chat_members", "chat_rooms"] {
            m.drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Weather-alert rooms: a province per alert room (unique), when a room closed, the
/// alerts seen, followed provinces, the notices owed to followers, polls and the
/// poller's lease.
struct WeatherAlertRooms;

impl MigrationName for WeatherAlertRooms {
    fn name(&self) -> &str {
        "m20261206_000800_chat_weather_alert_rooms"
    }
}

fn nullable(column: &str, len: Option<u32>) -> ColumnDef {
    let mut c = ColumnDef::new(a(column));
    match len {
        Some(n) => c.string_len(n),
        None => c.big_integer(),
    };
    c.null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for WeatherAlertRooms {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for col in [
            nullable("province_code", Some(16)),
            nullable("closed_at", None),
        ] {
            m.alter_table(
                Table::alter()
                    .table(a("chat_rooms"))
                    .add_column(col)
                    .to_owned(),
            )
            .await?;
        }
        index(
            m,
            "ux_chat_rooms_province",
            "chat_rooms",
            &["province_code"],
            true,
        )
        .await?;
        index(
            m,
            "ix_chat_rooms_closed",
            "chat_rooms",
            &["kind", "status", "closed_at"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_weather_alerts"))
                .if_not_exists()
                .col(id())
                .col(text("alert_key", 96))
                .col(text("province_code", 16))
                .col(text("region_code", 16))
                .col(text("region_name", 100))
                .col(text("kind", 16))
                .col(text("level", 16))
                .col(big("announced_at"))
                .col(big("effective_at"))
                .col(nullable("ends_at", None))
                .col(nullable("station", Some(16)))
                .col(text("status", 16))
                .col(big("first_seen_at"))
                .col(big("updated_at"))
                .col(nullable("ended_at", None))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_chat_weather_alerts_key",
            "chat_weather_alerts",
            &["alert_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_chat_weather_alerts_province",
            "chat_weather_alerts",
            &["province_code", "status"],
            false,
        )
        .await?;
        index(
            m,
            "ix_chat_weather_alerts_status",
            "chat_weather_alerts",
            &["status", "ends_at"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_province_follows"))
                .if_not_exists()
                .col(uuid("user_id"))
                .col(text("province_code", 16))
                .col(big("followed_at"))
                .primary_key(Index::create().col(a("user_id")).col(a("province_code")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_chat_province_follows_province",
            "chat_province_follows",
            &["province_code", "user_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_alert_notices"))
                .if_not_exists()
                .col(uuid("opening_id"))
                .col(uuid("user_id"))
                .col(uuid("room_id"))
                .col(big("created_at"))
                .col(nullable("sent_at", None))
                .primary_key(Index::create().col(a("opening_id")).col(a("user_id")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_chat_alert_notices_unsent",
            "chat_alert_notices",
            &["sent_at", "created_at"],
            false,
        )
        .await?;
        index(
            m,
            "ix_chat_alert_notices_room",
            "chat_alert_notices",
            &["room_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_alert_polls"))
                .if_not_exists()
                .col(id())
                .col(text("source", 16))
                .col(big("started_at"))
                .col(nullable("finished_at", None))
                .col(text("status", 16))
                .col(int("alerts"))
                .col(int("unreadable"))
                .col(int("opened"))
                .col(int("reopened"))
                .col(int("renamed"))
                .col(int("closed"))
                .col(ColumnDef::new(a("error")).text().null())
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_chat_alert_polls_started",
            "chat_alert_polls",
            &["started_at"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("chat_leases"))
                .if_not_exists()
                .col(
                    ColumnDef::new(a("name"))
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(text("holder", 64))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "chat_leases",
            "chat_alert_polls",
            "chat_alert_notices",
            "chat_province_follows",
            "chat_weather_alerts",
        ] {
            m.drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        m.drop_index(
            Index::drop()
                .name("ix_chat_rooms_closed")
                .table(a("chat_rooms"))
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ux_chat_rooms_province")
                .table(a("chat_rooms"))
                .to_owned(),
        )
        .await?;
        for col in ["closed_at", "province_code"] {
            m.alter_table(
                Table::alter()
                    .table(a("chat_rooms"))
                    .drop_column(a(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
