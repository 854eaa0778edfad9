//! The validated inputs the use cases take, each built only through a constructor
//! that checks it and answers [`InvalidInput`] naming what is wrong.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::discount::Discount;

/// What is wrong with an input. Every variant answers 422 `validation_failed` (the
/// code clients already know); the message names the field, and [`InvalidInput::line`]
/// the order line when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("an order has 1 to {MAX_LINES} lines")]
    LineCount,
    #[error("line {0}: quantity must be 1 to {MAX_QUANTITY}")]
    Quantity(usize),
    #[error("line {0}: product listed twice")]
    RepeatedProduct(usize),
    #[error("send either shipping_address or address_id")]
    ShippingChoice,
    #[error("recipient must be 1 to 50 characters")]
    Recipient,
    #[error("phone must be a phone number like 010-1234-5678")]
    Phone,
    #[error("address must be 1 to 300 characters")]
    Address,
    #[error("postal_code must be 5 to 10 letters or digits")]
    PostalCode,
    #[error("label must be at most 50 characters")]
    Label,
    #[error("name must be 1 to 200 characters")]
    Name,
    #[error("category must be 1 to 50 characters")]
    Category,
    #[error("price must be 0 to 1,000,000,000 KRW")]
    Price,
    #[error("stock must be 0 to 1,000,000,000")]
    Stock,
    #[error("quantity must be 1 to 1,000,000,000")]
    Restock,
    #[error("image_url must be an http(s) URL of at most 500 characters")]
    ImageUrl,
    #[error("quantity must be 1 to 10,000,000")]
    CouponQuantity,
    #[error("give discount_amount (> 0), or discount_percent (1..=100) with max_discount (> 0)")]
    Discount,
    #[error("ends_at must be after starts_at")]
    CampaignWindow,
    #[error("daily_quantity must be 1 to quantity")]
    DailyQuantity,
}

impl InvalidInput {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        "validation_failed"
    }

    /// The order line the error is about, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Quantity(i) | Self::RepeatedProduct(i) => Some(*i),
            _ => None,
        }
    }
}

pub const MAX_LINES: usize = 20;
pub const MAX_QUANTITY: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingAddress {
    #[schema(example = "홍길동")]
    pub recipient: String,
    #[schema(example = "010-1234-5678")]
    pub phone: String,
    #[schema(example = "서울시 강남구 테헤란로 1")]
    pub address: String,
    #[schema(example = "06236")]
    pub postal_code: String,
}

impl ShippingAddress {
    /// Trims and checks every field; the error names the field.
    pub fn validated(self) -> Result<Self, InvalidInput> {
        let t = |s: String| s.trim().to_owned();
        let a = ShippingAddress {
            recipient: t(self.recipient),
            phone: t(self.phone),
            address: t(self.address),
            postal_code: t(self.postal_code),
        };
        let len = |s: &str| s.chars().count();
        if !(1..=50).contains(&len(&a.recipient)) {
            return Err(InvalidInput::Recipient);
        }
        let digits = a.phone.chars().filter(char::is_ascii_digit).count();
        if !(9..=15).contains(&digits)
            || !a
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ')
        {
            return Err(InvalidInput::Phone);
        }
        if !(1..=300).contains(&len(&a.address)) {
            return Err(InvalidInput::Address);
        }
        if !(5..=10).contains(&a.postal_code.len())
            || !a
                .postal_code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(InvalidInput::PostalCode);
        }
        Ok(a)
    }
}

/// One line of an order as asked for (quantity checked by [`OrderLines::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub quantity: i64,
}

/// An order's lines: 1 to [`MAX_LINES`], each quantity 1 to [`MAX_QUANTITY`], no
/// product twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines(Vec<OrderLine>);

impl OrderLines {
    pub fn new(lines: Vec<OrderLine>) -> Result<Self, InvalidInput> {
        if lines.is_empty() || lines.len() > MAX_LINES {
            return Err(InvalidInput::LineCount);
        }
        for (i, l) in lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&l.quantity) {
                return Err(InvalidInput::Quantity(i));
            }
            if lines[..i].iter().any(|o| o.product_id == l.product_id) {
                return Err(InvalidInput::RepeatedProduct(i));
            }
        }
        Ok(Self(lines))
    }

    pub fn as_slice(&self) -> &[OrderLine] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: an order has at least one line.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where an order goes: an address given with it, or one of the buyer's saved ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingChoice {
    Given(ShippingAddress),
    Saved(Uuid),
}

impl ShippingChoice {
    /// Exactly one of the two; a given address is checked.
    pub fn new(given: Option<ShippingAddress>, saved: Option<Uuid>) -> Result<Self, InvalidInput> {
        match (given, saved) {
            (Some(a), None) => Ok(Self::Given(a.validated()?)),
            (None, Some(id)) => Ok(Self::Saved(id)),
            _ => Err(InvalidInput::ShippingChoice),
        }
    }
}

/// A saved address with its label ("집", "회사").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAddress {
    pub label: String,
    pub address: ShippingAddress,
}

impl SavedAddress {
    pub fn new(label: &str, address: ShippingAddress) -> Result<Self, InvalidInput> {
        let label = label.trim().to_owned();
        if label.chars().count() > 50 {
            return Err(InvalidInput::Label);
        }
        Ok(Self {
            label,
            address: address.validated()?,
        })
    }
}

fn trimmed(
    s: &str,
    chars: std::ops::RangeInclusive<usize>,
    e: InvalidInput,
) -> Result<String, InvalidInput> {
    let s = s.trim();
    if chars.contains(&s.chars().count()) {
        Ok(s.to_owned())
    } else {
        Err(e)
    }
}

fn product_name(n: &str) -> Result<String, InvalidInput> {
    trimmed(n, 1..=200, InvalidInput::Name)
}

fn category(c: &str) -> Result<String, InvalidInput> {
    trimmed(c, 1..=50, InvalidInput::Category)
}

fn price(p: i64) -> Result<i64, InvalidInput> {
    (0..=1_000_000_000)
        .contains(&p)
        .then_some(p)
        .ok_or(InvalidInput::Price)
}

fn description(d: &str) -> String {
    d.trim().chars().take(10_000).collect()
}

/// An http(s) URL of at most 500 characters; blank means none.
fn image_url(u: Option<String>) -> Result<Option<String>, InvalidInput> {
    match u.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) {
        Some(u) if u.len() <= 500 && (u.starts_with("https://") || u.starts_with("http://")) => {
            Ok(Some(u))
        }
        Some(_) => Err(InvalidInput::ImageUrl),
        None => Ok(None),
    }
}

/// A product to add to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub(crate) name: String,
    /// Trimmed, at most 10,000 characters (longer is cut).
    pub(crate) description: String,
    /// KRW.
    pub(crate) price: i64,
    pub(crate) stock: i64,
    pub(crate) category: String,
    pub(crate) image_url: Option<String>,
}

impl NewProduct {
    pub fn new(
        name: &str,
        description_text: &str,
        price_krw: i64,
        stock: i64,
        category_name: &str,
        image: Option<String>,
    ) -> Result<Self, InvalidInput> {
        if !(0..=1_000_000_000).contains(&stock) {
            return Err(InvalidInput::Stock);
        }
        Ok(Self {
            name: product_name(name)?,
            description: description(description_text),
            price: price(price_krw)?,
            stock,
            category: category(category_name)?,
            image_url: image_url(image)?,
        })
    }
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) price: Option<i64>,
    pub(crate) category: Option<String>,
    /// `Some(None)`: remove the image.
    pub(crate) image_url: Option<Option<String>>,
}

impl ProductChanges {
    pub fn new(
        name: Option<&str>,
        description_text: Option<&str>,
        price_krw: Option<i64>,
        category_name: Option<&str>,
        image: Option<String>,
    ) -> Result<Self, InvalidInput> {
        Ok(Self {
            name: name.map(product_name).transpose()?,
            description: description_text.map(description),
            price: price_krw.map(price).transpose()?,
            category: category_name.map(category).transpose()?,
            image_url: match image {
                Some(u) => Some(image_url(Some(u))?),
                None => None,
            },
        })
    }
}

/// How much stock an admin adds at once: 1 to 1,000,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restock(i64);

impl Restock {
    pub fn new(quantity: i64) -> Result<Self, InvalidInput> {
        (1..=1_000_000_000)
            .contains(&quantity)
            .then_some(Self(quantity))
            .ok_or(InvalidInput::Restock)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A first-come coupon campaign to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    pub(crate) name: String,
    pub(crate) quantity: i64,
    pub(crate) discount: Discount,
    /// Epoch milliseconds, `starts_at < ends_at`.
    pub(crate) starts_at: i64,
    pub(crate) ends_at: i64,
    pub(crate) requires_mission_today: bool,
    pub(crate) daily_quantity: Option<i64>,
}

impl NewCampaign {
    /// Claimable only with a completed mission today, and/or at most `daily_quantity`
    /// coupons per KST day (1..=quantity).
    pub fn with_rules(
        mut self,
        requires_mission_today: bool,
        daily_quantity: Option<i64>,
    ) -> Result<Self, InvalidInput> {
        if daily_quantity.is_some_and(|d| !(1..=self.quantity).contains(&d)) {
            return Err(InvalidInput::DailyQuantity);
        }
        self.requires_mission_today = requires_mission_today;
        self.daily_quantity = daily_quantity;
        Ok(self)
    }

    pub fn new(
        name: &str,
        quantity: i64,
        discount_amount: Option<i64>,
        discount_percent: Option<i32>,
        max_discount: Option<i64>,
        starts_at: i64,
        ends_at: i64,
    ) -> Result<Self, InvalidInput> {
        let name = product_name(name)?;
        if !(1..=10_000_000).contains(&quantity) {
            return Err(InvalidInput::CouponQuantity);
        }
        let discount = match (discount_amount, discount_percent, max_discount) {
            (Some(a), None, None) if a > 0 => Discount::Amount(a),
            (None, Some(p), Some(m)) if (1..=100).contains(&p) && m > 0 => {
                Discount::Percent { percent: p, max: m }
            }
            _ => return Err(InvalidInput::Discount),
        };
        if ends_at <= starts_at {
            return Err(InvalidInput::CampaignWindow);
        }
        Ok(Self {
            name,
            quantity,
            discount,
            starts_at,
            ends_at,
            requires_mission_today: false,
            daily_quantity: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shipping_addresses_are_checked() {
        let ok = ShippingAddress {
            recipient: " 홍길동 ".into(),
            phone: "010-1234-5678".into(),
            address: "서울시 강남구 테헤란로 1".into(),
            postal_code: "06236".into(),
        };
        assert_eq!(
            ok.clone().validated().map(|a| a.recipient),
            Ok("홍길동".into())
        );
        let bad_phone = ShippingAddress {
            phone: "call me".into(),
            ..ok.clone()
        };
        assert!(bad_phone.validated().is_err());
        let bad_zip = ShippingAddress {
            postal_code: "1".into(),
            ..ok
        };
        assert_eq!(bad_zip.validated(), Err(InvalidInput::PostalCode));
    }

    fn line(q: i64) -> OrderLine {
        OrderLine {
            product_id: Uuid::now_v7(),
            quantity: q,
        }
    }

    #[test]
    fn order_lines_are_checked() {
        assert_eq!(OrderLines::new(vec![]), Err(InvalidInput::LineCount));
        assert_eq!(
            OrderLines::new((0..=MAX_LINES).map(|_| line(1)).collect()),
            Err(InvalidInput::LineCount)
        );
        assert_eq!(
            OrderLines::new(vec![line(1), line(0)]),
            Err(InvalidInput::Quantity(1))
        );
        assert_eq!(
            OrderLines::new(vec![line(MAX_QUANTITY + 1)]),
            Err(InvalidInput::Quantity(0))
        );
        let a = line(1);
        let e = OrderLines::new(vec![a, line(2), a]).unwrap_err();
        assert_eq!(
            (e.clone(), e.line()),
            (InvalidInput::RepeatedProduct(2), Some(2))
        );
        assert_eq!(
            OrderLines::new(vec![line(MAX_QUANTITY)]).map(|l| l.len()),
            Ok(1)
        );
    }

    #[test]
    fn shipping_is_either_given_or_saved() {
        let id = Uuid::now_v7();
        assert_eq!(
            ShippingChoice::new(None, Some(id)),
            Ok(ShippingChoice::Saved(id))
        );
        assert_eq!(
            ShippingChoice::new(None, None),
            Err(InvalidInput::ShippingChoice)
        );
    }

    #[test]
    fn products_are_checked() {
        let p = NewProduct::new(
            " 운동화 ",
            " 좋은 신발 ",
            129_000,
            5,
            " shoes ",
            Some(" ".into()),
        )
        .unwrap();
        assert_eq!(
            (
                p.name.as_str(),
                p.description.as_str(),
                p.category.as_str(),
                p.image_url
            ),
            ("운동화", "좋은 신발", "shoes", None)
        );
        let bad = |r: Result<NewProduct, InvalidInput>| r.unwrap_err();
        assert_eq!(
            bad(NewProduct::new(" ", "", 1, 1, "c", None)),
            InvalidInput::Name
        );
        assert_eq!(
            bad(NewProduct::new("n", "", -1, 1, "c", None)),
            InvalidInput::Price
        );
        assert_eq!(
            bad(NewProduct::new("n", "", 1, -1, "c", None)),
            InvalidInput::Stock
        );
        assert_eq!(
            bad(NewProduct::new("n", "", 1, 1, "", None)),
            InvalidInput::Category
        );
        assert_eq!(
            bad(NewProduct::new("n", "", 1, 1, "c", Some("ftp://x".into()))),
            InvalidInput::ImageUrl
        );
        let c = ProductChanges::new(None, None, Some(5), None, Some(String::new())).unwrap();
        assert_eq!((c.price, c.image_url, c.name), (Some(5), Some(None), None));
        assert_eq!(Restock::new(0), Err(InvalidInput::Restock));
    }

    #[test]
    fn campaigns_are_checked() {
        let ok = NewCampaign::new("c", 10, Some(1_000), None, None, 1, 2).unwrap();
        assert_eq!(ok.discount, Discount::Amount(1_000));
        assert_eq!(
            NewCampaign::new("c", 10, None, Some(10), None, 1, 2),
            Err(InvalidInput::Discount)
        );
        assert_eq!(
            NewCampaign::new("c", 0, Some(1), None, None, 1, 2),
            Err(InvalidInput::CouponQuantity)
        );
        assert_eq!(
            NewCampaign::new("c", 1, Some(1), None, None, 2, 2),
            Err(InvalidInput::CampaignWindow)
        );
    }
}
