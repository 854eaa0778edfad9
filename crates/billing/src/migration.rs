//! The billing tables. A daily use is a row per (user, KST day) whose `used` moves only
//! by a conditional increment (`used < limit`); a user has at most one live subscription
//! (`billing_subscriptions.live_key`); a period is charged at most once (one ledger row
//! per (subscription, period), and a unique `order_id`); one batch runner per job holds
//! the job's lease row.

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateBillingTables)]
}

struct CreateBillingTables;

impl MigrationName for CreateBillingTables {
    fn name(&self) -> &str {
        "m20261206_000100_billing_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBillingTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("billing_usage"))
                .if_not_exists()
                .col(uuid("user_id"))
                // 00:00 KST of the day, epoch milliseconds.
                .col(big("day_start"))
                .col(int("used"))
                .primary_key(Index::create().col(a("user_id")).col(a("day_start")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_billing_usage_day",
            "billing_usage",
            &["day_start"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("billing_subscriptions"))
                .if_not_exists()
                .col(id())
                .col(uuid("user_id"))
                .col(text("plan", 10))
                .col(text("status", 12))
                .col(big("amount"))
                // The first payment's tid, and the sid its approval issued.
                .col(ColumnDef::new(a("first_tid")).string_len(64).null())
                .col(ColumnDef::new(a("sid")).string_len(64).null())
                // The end of the paid period (the next charge is due then); 0 while PENDING.
                .col(big("period_end"))
                // `period_end` while the batch has something to do (ACTIVE, PAST_DUE,
                // CANCELLING), NULL otherwise: the batch's keyset index skips the rest.
                .col(ColumnDef::new(a("due_at")).big_integer().null())
                .col(int("failed_charges"))
                // The user id while live (not PENDING or EXPIRED), NULL otherwise: one live
                // subscription per user, enforced by the database.
                .col(ColumnDef::new(a("live_key")).string_len(40).null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_billing_subscriptions_live",
            "billing_subscriptions",
            &["live_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_billing_subscriptions_user",
            "billing_subscriptions",
            &["user_id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_billing_subscriptions_due",
            "billing_subscriptions",
            &["due_at", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("billing_charges"))
                .if_not_exists()
                .col(id())
                .col(uuid("subscription_id"))
                .col(uuid("user_id"))
                .col(big("period_start"))
                .col(big("period_end"))
                .col(text("order_id", 80))
                .col(big("amount"))
                .col(text("status", 10))
                .col(int("attempts"))
                // The KST day (00:00, epoch ms) of the last attempt: one attempt a night.
                .col(big("attempt_day"))
                .col(ColumnDef::new(a("tid")).string_len(64).null())
                .col(ColumnDef::new(a("last_error")).string_len(200).null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_billing_charges_period",
            "billing_charges",
            &["subscription_id", "period_start"],
            true,
        )
        .await?;
        index(
            m,
            "ux_billing_charges_order",
            "billing_charges",
            &["order_id"],
            true,
        )
        .await?;
        index(
            m,
            "ix_billing_charges_status",
            "billing_charges",
            &["status", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("billing_batch_runs"))
                .if_not_exists()
                .col(id())
                .col(text("job", 40))
                .col(text("day", 10))
                .col(text("state", 10))
                .col(big("charged"))
                .col(big("failed"))
                .col(big("downgraded"))
                .col(big("skipped"))
                .col(big("held"))
                .col(big("deleted_usage"))
                .col(text("runner", 60))
                .col(big("started_at"))
                .col(ColumnDef::new(a("finished_at")).big_integer().null())
                .col(ColumnDef::new(a("error")).string_len(300).null())
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_billing_batch_runs_job",
            "billing_batch_runs",
            &["job", "started_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("billing_leases"))
                .if_not_exists()
                .col(
                    ColumnDef::new(a("name"))
                        .string_len(60)
                        .not_null()
                        .primary_key(),
                )
                .col(text("holder", 60))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
