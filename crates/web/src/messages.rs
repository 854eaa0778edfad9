//! Every ApiError code a page can meet, in Korean, in one place; and the form field a
//! code belongs to, so a form re-renders with the message beside that field.

/// The Korean message for a use case's error code.
pub fn korean(code: &str) -> &'static str {
    match code {
        // identity
        "invalid_email" => "이메일 형식이 올바르지 않습니다 (예: name@example.com).",
        "invalid_nickname" => "닉네임은 2~20자의 글자, 숫자, '_', '-', '.'만 쓸 수 있습니다.",
        "invalid_password" => "비밀번호는 8~128자여야 합니다.",
        "email_taken" => "이미 가입된 이메일입니다.",
        "nickname_taken" => "이미 사용 중인 닉네임입니다.",
        "invalid_credentials" => "이메일 또는 비밀번호가 올바르지 않습니다.",
        "account_deactivated" => "비활성화된 계정입니다.",
        "too_many_requests" => "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
        "unauthenticated" | "invalid_token" | "token_expired" | "session_revoked" => {
            "로그인이 필요합니다."
        }
        "forbidden" => "권한이 없습니다.",
        // shop
        "out_of_stock" => "재고가 부족합니다.",
        "sold_out" => "품절되었습니다.",
        "coupon_unavailable" => "쓸 수 없는 쿠폰입니다.",
        "unpaid_limit" => "결제하지 않은 주문이 너무 많습니다. 먼저 결제하거나 취소해 주세요.",
        "order_expired" | "payment_window_expired" => "결제 시간이 지나 주문이 취소되었습니다.",
        "order_not_payable" => "결제를 기다리는 주문이 아닙니다.",
        "order_paid" => "이미 결제된 주문입니다.",
        "order_refunded" => "이미 환불된 주문입니다.",
        "payment_not_started" => "결제가 아직 시작되지 않았습니다.",
        "amount_mismatch" => "결제 금액이 주문 금액과 다릅니다.",
        "invalid_transition" => "지금 상태에서는 할 수 없는 작업입니다.",
        "payment_declined" => "결제가 거절되었습니다.",
        "payment_unavailable" => "결제 서비스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
        "already_claimed" => "이미 받은 쿠폰입니다.",
        "not_open" => "지금은 발급 기간이 아닙니다.",
        "too_many_addresses" => "저장할 수 있는 배송지 수를 넘었습니다.",
        "concurrent_update" => "다른 요청과 겹쳤습니다. 다시 시도해 주세요.",
        "idempotency_mismatch" | "duplicate_idempotency_key" | "idempotency_in_progress" => {
            "같은 주문서가 이미 처리되었거나 처리 중입니다. 주문 내역을 확인해 주세요."
        }
        // ticketing
        "not_admitted" => "대기실에서 차례가 된 뒤에 좌석을 고를 수 있습니다.",
        "seat_unavailable" => "이미 다른 분이 잡은 좌석입니다. 다른 좌석을 골라 주세요.",
        "hold_limit" => "이 항공편에서 잡을 수 있는 좌석 수를 넘었습니다.",
        "flight_departed" => "이미 출발한 항공편입니다.",
        "flight_cancelled" => "운항이 취소된 항공편입니다.",
        "sale_closed" => "판매가 끝났습니다.",
        "invalid_state" => "지금 상태에서는 할 수 없는 작업입니다.",
        "rate_limited" => "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
        // resumes
        "quota_exceeded" => {
            "오늘 쓸 수 있는 생성·AI 수정 횟수를 다 썼습니다. 내일 00시(KST)에 다시 채워집니다."
        }
        "resume_busy" => "이력서를 작성하는 중입니다. 끝난 뒤에 다시 시도해 주세요.",
        "resume_not_ready" => "아직 작성된 이력서가 없습니다.",
        "resume_changed" => "그 사이 이력서가 바뀌었습니다. 다시 열어 주세요.",
        "ai_edit_unavailable" => {
            "AI 수정을 쓸 수 없습니다(언어 모델이 설정되지 않음). 직접 고쳐 주세요."
        }
        "not_owner" => "이력서 주인만 할 수 있습니다.",
        // general
        "validation_failed" | "bad_request" => "입력한 값을 확인해 주세요.",
        "not_found" => "찾을 수 없습니다.",
        "conflict" => "다른 요청과 겹쳤습니다. 다시 시도해 주세요.",
        "dependency_unavailable" | "unavailable" => {
            "잠시 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요."
        }
        "payload_too_large" => "보낸 내용이 너무 큽니다.",
        _ => "요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.",
    }
}

/// The form field an error code is about, if any.
pub fn field_of(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_email" | "email_taken" => "email",
        "invalid_nickname" | "nickname_taken" => "nickname",
        "invalid_password" => "password",
        "out_of_stock" | "sold_out" | "unpaid_limit" => "quantity",
        "coupon_unavailable" => "coupon_id",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_code_has_its_own_message() {
        for code in [
            "invalid_email",
            "nickname_taken",
            "invalid_password",
            "out_of_stock",
        ] {
            assert_ne!(korean(code), korean("something_else"), "{code}");
            assert!(field_of(code).is_some(), "{code}");
        }
        assert_eq!(field_of("internal"), None);
    }
}
