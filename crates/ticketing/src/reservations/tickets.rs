//! The ticket e-mail of a confirmed reservation, sent once from the outbox.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::EntityTrait;
use surge_kernel::events::{claim, is_handled, EventEnvelope};
use surge_kernel::ports::{EventHandler, Mail};
use uuid::Uuid;

use super::{Reservations, MAIL_CONSUMER};
use crate::domain::ReservationStatus;
use crate::entities::reservation;

impl Reservations {
    /// The mail for reservation `id`; `None` if there is nothing to send any more.
    async fn ticket_mail(&self, id: Uuid) -> anyhow::Result<Option<Mail>> {
        let Some(r) = reservation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|r| r.status == ReservationStatus::Confirmed)
        else {
            return Ok(None); // gone, or cancelled before the mail went out
        };
        let Some(user) = self.users.find(r.user_id).await? else {
            return Ok(None);
        };
        let v = self.views(vec![r], &self.db).await?.pop();
        let Some(v) = v else { return Ok(None) };
        let mut text = format!(
            "Hello {},\n\nYour flight {} from {} to {} departs at {}.\n\n",
            user.nickname, v.flight_number, v.origin, v.destination, v.departs_at
        );
        for s in &v.seats {
            text.push_str(&format!(
                "Seat {} ({}): ticket {}\n",
                s.number,
                s.grade,
                s.ticket_code.as_deref().unwrap_or("-")
            ));
        }
        text.push_str(&format!(
            "\nTotal paid: {} KRW\nReservation: {}\n",
            v.total, v.id
        ));
        Ok(Some(Mail {
            to: user.email,
            subject: format!(
                "Your tickets: {} {}→{}",
                v.flight_number, v.origin, v.destination
            ),
            text,
        }))
    }
}

/// E-mails the tickets of a confirmed reservation, once. The send cannot be inside a
/// transaction, so the handler checks the processed mark first, takes a lease in the
/// cache (concurrent redeliveries wait; released only if nothing was sent), sends,
/// then claims the event (which records it handled).
pub struct TicketMailer(pub Arc<Reservations>);

#[async_trait]
impl EventHandler for TicketMailer {
    #[tracing::instrument(skip_all, fields(event = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let p = &self.0;
        if is_handled(&p.db, MAIL_CONSUMER, event.id).await? {
            return Ok(());
        }
        let lease = format!("ticketing:mail-lease:{}", event.id);
        if !p
            .cache
            .set_if_absent(&lease, b"1", Duration::from_secs(120))
            .await?
        {
            anyhow::bail!("ticket mail for event {} is being sent elsewhere", event.id);
        }
        let id: Uuid = event
            .payload
            .get("reservation_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("reservation_confirmed without reservation_id"))?;
        let mail = match p.ticket_mail(id).await {
            Ok(m) => m,
            Err(e) => {
                let _ = p.cache.delete(&lease).await;
                return Err(e);
            }
        };
        if let Some(mail) = mail {
            if let Err(e) = p.mailer.send(&mail).await {
                let _ = p.cache.delete(&lease).await; // not sent: the retry may send
                return Err(e);
            }
        }
        // Sent: the lease stays, so a retry of just this mark cannot send again. `None`
        // would mean another delivery recorded it meanwhile; nothing is left to do.
        if let Some(txn) = claim(&p.db, MAIL_CONSUMER, event.id, p.clock.now_ms()).await? {
            txn.commit().await?;
        }
        Ok(())
    }
}
