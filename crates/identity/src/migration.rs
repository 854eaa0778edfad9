//! Identity's migrations. Names and SQL are fixed once released: databases record the
//! name of every migration they ran.

use sea_orm_migration::prelude::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateIdentityTables), Box::new(AddOAuthLogin)]
}

struct CreateIdentityTables;

impl MigrationName for CreateIdentityTables {
    fn name(&self) -> &str {
        "m20261121_000100_identity_tables"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIdentityTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("identity_users"))
                .if_not_exists()
                .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                .col(ColumnDef::new(a("email")).string_len(254).not_null())
                .col(ColumnDef::new(a("nickname")).string_len(80).not_null())
                .col(ColumnDef::new(a("nickname_key")).string_len(80).not_null())
                .col(ColumnDef::new(a("password_hash")).string_len(200).null())
                .col(ColumnDef::new(a("role")).string_len(10).not_null())
                .col(ColumnDef::new(a("active")).boolean().not_null())
                .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                .col(ColumnDef::new(a("updated_at")).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // The unique indexes are what make "one account per email / nickname" hold
        // under concurrent signups; index names appear in violation messages.
        for (name, col) in [
            ("uq_identity_users_email", "email"),
            ("uq_identity_users_nickname", "nickname_key"),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(a("identity_users"))
                    .col(a(col))
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(a("identity_refresh_tokens"))
                .if_not_exists()
                .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                .col(ColumnDef::new(a("family_id")).uuid().not_null())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(ColumnDef::new(a("token_hash")).string_len(64).not_null())
                .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                .col(ColumnDef::new(a("expires_at")).big_integer().not_null())
                .col(ColumnDef::new(a("spent_at")).big_integer().null())
                .col(ColumnDef::new(a("revoked_at")).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_identity_refresh_hash")
                .table(a("identity_refresh_tokens"))
                .col(a("token_hash"))
                .unique()
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_identity_refresh_family", "family_id"),
            ("ix_identity_refresh_user", "user_id"),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(a("identity_refresh_tokens"))
                    .col(a(col))
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(a("identity_oauth_identities"))
                .if_not_exists()
                .col(ColumnDef::new(a("provider")).string_len(20).not_null())
                .col(ColumnDef::new(a("subject")).string_len(100).not_null())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                .primary_key(Index::create().col(a("provider")).col(a("subject")))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "identity_oauth_identities",
            "identity_refresh_tokens",
            "identity_users",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}

/// The provider's login name beside the (numeric) subject, so other modules can find a
/// user's GitHub account (resumes).
struct AddOAuthLogin;

impl MigrationName for AddOAuthLogin {
    fn name(&self) -> &str {
        "m20261207_000400_identity_oauth_login"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddOAuthLogin {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(a("identity_oauth_identities"))
                .add_column(ColumnDef::new(a("login")).string_len(100).null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_identity_oauth_identities_user")
                .table(a("identity_oauth_identities"))
                .col(a("user_id"))
                .col(a("provider"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_identity_oauth_identities_user")
                .table(a("identity_oauth_identities"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(a("identity_oauth_identities"))
                .drop_column(a("login"))
                .to_owned(),
        )
        .await
    }
}
