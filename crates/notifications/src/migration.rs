//! Notifications' migrations. Names and SQL are fixed once released: databases record
//! the name of every migration they ran.

use sea_orm_migration::prelude::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateNotifications)]
}

struct CreateNotifications;

impl MigrationName for CreateNotifications {
    fn name(&self) -> &str {
        "m20261121_000200_notifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotifications {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let a = Alias::new;
        m.create_table(
            Table::create()
                .table(a("notifications"))
                .if_not_exists()
                .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(ColumnDef::new(a("kind")).string_len(60).not_null())
                .col(ColumnDef::new(a("title")).string_len(200).not_null())
                .col(ColumnDef::new(a("body")).text().not_null())
                .col(ColumnDef::new(a("data")).text().not_null())
                .col(ColumnDef::new(a("read_at")).big_integer().null())
                .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notifications_user")
                .table(a("notifications"))
                .col(a("user_id"))
                .col(a("id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("notifications")).to_owned())
            .await
    }
}
