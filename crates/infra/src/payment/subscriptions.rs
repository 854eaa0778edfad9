//! Kakao Pay's recurring payments (정기 결제): charging a subscription with its `sid`,
//! reading and ending it.

#[allow(clippy::wildcard_imports)]
use super::*;

#[async_trait]
impl SubscriptionGateway for KakaoPay {
    #[tracing::instrument(name = "kakao_pay.charge", skip_all, fields(order_id = %c.order_id, amount = c.amount), err(level = "warn"))]
    async fn charge(&self, c: &SubscriptionCharge) -> Result<PaymentApproved, PaymentError> {
        let answer: ApproveAnswer = self
            .post(
                SUBSCRIPTION,
                &ChargeBody {
                    cid: &self.cid,
                    sid: &c.sid,
                    partner_order_id: &c.order_id,
                    partner_user_id: &c.user_id,
                    item_name: &c.item_name,
                    quantity: c.quantity,
                    total_amount: c.amount,
                    tax_free_amount: 0,
                },
            )
            .await?;
        let tid = answer.tid.ok_or_else(|| {
            PaymentError::Unavailable("Kakao Pay charged a subscription without a tid".into())
        })?;
        Ok(PaymentApproved {
            tid,
            amount: answer.amount.total,
            sid: Some(answer.sid.unwrap_or_else(|| c.sid.clone())),
        })
    }

    #[tracing::instrument(name = "kakao_pay.deactivate", skip_all, err(level = "warn"))]
    async fn deactivate(&self, sid: &str) -> Result<(), PaymentError> {
        let body = SidBody {
            cid: &self.cid,
            sid,
        };
        let message = match self
            .post::<_, SubscriptionAnswer>(SUBSCRIPTION_INACTIVE, &body)
            .await
        {
            Ok(_) => return Ok(()),
            Err(Failure::Rejected(message)) => message,
            Err(e) => return Err(e.into()),
        };
        // Ending it twice is fine: the status says whether it already ended.
        match self.subscription(sid).await {
            Ok(state) if !state.active => Ok(()),
            Ok(_) => Err(PaymentError::Declined(message)),
            Err(e @ PaymentError::Unavailable(_)) => Err(e),
            Err(PaymentError::Declined(_)) => Err(PaymentError::Declined(message)),
        }
    }

    #[tracing::instrument(
        name = "kakao_pay.subscription",
        level = "debug",
        skip_all,
        err(level = "warn")
    )]
    async fn subscription(&self, sid: &str) -> Result<SubscriptionState, PaymentError> {
        let answer: SubscriptionAnswer = self
            .post(
                SUBSCRIPTION_STATUS,
                &SidBody {
                    cid: &self.cid,
                    sid,
                },
            )
            .await?;
        Ok(SubscriptionState {
            sid: sid.to_owned(),
            active: answer.status == "ACTIVE",
        })
    }
}
