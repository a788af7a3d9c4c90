//! Micro-drop pricing: a unit price, an optional bundle, and time-boxed
//! discount rules. The cart worker uses it for quotes at the edge and the
//! orders service uses the very same code for the authoritative price it
//! stores with each reservation, so the two never disagree.
//!
//! # Rules
//!
//! 1. Money is an integer count of the currency's minor unit (cents) with an
//!    ISO 4217 code; nothing is ever a float.
//! 2. The **subtotal** is `unit_price × quantity`.
//! 3. A rule applies at instant `t` when `starts_at <= t < ends_at`; a missing
//!    bound is open. The drop's bundle is a rule like the others, so a bundle
//!    with `ends_at` is a bundle timer.
//! 4. Kinds of rule:
//!    - `n-for-price` (`units`, `price`): every full group of `units` costs
//!      `price`; the units left over cost the unit price.
//!    - `percentage` (`percent`, 1 to 100): `subtotal × percent / 100`,
//!      rounded down to the minor unit, comes off.
//!    - `amount` (`amount`): that much comes off each unit, never more than
//!      the unit price.
//! 5. Rules do not stack: of the applicable rules, the one giving the lowest
//!    total wins (on a tie, the bundle, then the discounts in their listed
//!    order). A rule that would not lower the total is not applied.
//! 6. The breakdown lists unit price, quantity, subtotal, the discount, the
//!    rule that gave it, and the total (`subtotal - discount`).

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Upper bounds that keep every product below `i64::MAX`.
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000_000;
pub const MAX_QUANTITY: i64 = 1_000_000;

/// What a drop costs and which offers it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceList {
    /// Minor units (cents) per unit.
    pub unit_price: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// `units` for `price`, possibly only within a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Bundle>,
    /// Time-boxed discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<Discount>,
}

/// An n-for-price offer attached to the drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub units: i64,
    pub price: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
}

/// A discount rule with its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    #[serde(flatten)]
    pub kind: DiscountKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DiscountKind {
    Percentage { percent: i64 },
    Amount { amount: i64 },
    NForPrice { units: i64, price: i64 },
}

/// The rule a breakdown applied, as it is shown to the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AppliedRule {
    Bundle {
        units: i64,
        price: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Timestamp>,
    },
    Percentage {
        percent: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Timestamp>,
    },
    Amount {
        amount: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Timestamp>,
    },
    NForPrice {
        units: i64,
        price: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Timestamp>,
    },
}

/// What `quantity` units cost at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBreakdown {
    pub currency: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub subtotal: i64,
    pub discount: i64,
    pub rule: Option<AppliedRule>,
    pub total: i64,
}

/// Why a price list is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPriceList(pub String);

impl std::fmt::Display for InvalidPriceList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidPriceList {}

fn within(t: Timestamp, starts_at: Option<Timestamp>, ends_at: Option<Timestamp>) -> bool {
    starts_at.is_none_or(|s| s <= t) && ends_at.is_none_or(|e| t < e)
}

fn check_window(
    what: &str,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
) -> Result<(), InvalidPriceList> {
    match (starts_at, ends_at) {
        (Some(s), Some(e)) if e <= s => Err(InvalidPriceList(format!(
            "{what}: ends_at must be after starts_at"
        ))),
        _ => Ok(()),
    }
}

fn check_money(what: &str, amount: i64) -> Result<(), InvalidPriceList> {
    if (0..=MAX_UNIT_PRICE).contains(&amount) {
        Ok(())
    } else {
        Err(InvalidPriceList(format!(
            "{what} must be between 0 and {MAX_UNIT_PRICE} minor units"
        )))
    }
}

fn check_group(what: &str, units: i64, price: i64) -> Result<(), InvalidPriceList> {
    if !(2..=1000).contains(&units) {
        return Err(InvalidPriceList(format!(
            "{what}: units must be between 2 and 1000"
        )));
    }
    check_money(&format!("{what}: price"), price)
}

/// Whether `code` looks like an ISO 4217 code (three upper-case letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

impl PriceList {
    /// Checks amounts, windows and the currency code.
    pub fn validate(&self) -> Result<(), InvalidPriceList> {
        check_money("unit_price", self.unit_price)?;
        if !is_currency_code(&self.currency) {
            return Err(InvalidPriceList(format!(
                "currency {:?} is not an ISO 4217 code such as EUR",
                self.currency
            )));
        }
        if let Some(bundle) = &self.bundle {
            check_group("bundle", bundle.units, bundle.price)?;
            check_window("bundle", bundle.starts_at, bundle.ends_at)?;
        }
        if self.discounts.len() > 16 {
            return Err(InvalidPriceList("at most 16 discounts".to_owned()));
        }
        for (i, discount) in self.discounts.iter().enumerate() {
            let what = format!("discounts[{i}]");
            match discount.kind {
                DiscountKind::Percentage { percent } if !(1..=100).contains(&percent) => {
                    return Err(InvalidPriceList(format!(
                        "{what}: percent must be between 1 and 100"
                    )));
                }
                DiscountKind::Percentage { .. } => {}
                DiscountKind::Amount { amount } => {
                    check_money(&format!("{what}: amount"), amount)?;
                }
                DiscountKind::NForPrice { units, price } => check_group(&what, units, price)?,
            }
            check_window(&what, discount.starts_at, discount.ends_at)?;
        }
        Ok(())
    }

    /// The rules that apply at `at`, bundle first, each with the total it
    /// gives for `quantity` units.
    fn candidates(&self, quantity: i64, at: Timestamp) -> Vec<(AppliedRule, i64)> {
        let unit = self.unit_price;
        let groups =
            |units: i64, price: i64| (quantity / units) * price + (quantity % units) * unit;
        let bundle = self
            .bundle
            .iter()
            .filter(|b| within(at, b.starts_at, b.ends_at))
            .map(|b| {
                let rule = AppliedRule::Bundle {
                    units: b.units,
                    price: b.price,
                    ends_at: b.ends_at,
                };
                (rule, groups(b.units, b.price))
            });
        let discounts = self
            .discounts
            .iter()
            .filter(|d| within(at, d.starts_at, d.ends_at))
            .map(|d| {
                let ends_at = d.ends_at;
                match d.kind {
                    DiscountKind::Percentage { percent } => (
                        AppliedRule::Percentage { percent, ends_at },
                        unit * quantity - unit * quantity * percent / 100,
                    ),
                    DiscountKind::Amount { amount } => (
                        AppliedRule::Amount { amount, ends_at },
                        (unit - amount.min(unit)) * quantity,
                    ),
                    DiscountKind::NForPrice { units, price } => (
                        AppliedRule::NForPrice {
                            units,
                            price,
                            ends_at,
                        },
                        groups(units, price),
                    ),
                }
            });
        bundle.chain(discounts).collect()
    }

    /// The price of `quantity` units (1 to [`MAX_QUANTITY`]) at `at`, for a
    /// list that passed [`PriceList::validate`].
    pub fn price(&self, quantity: i64, at: Timestamp) -> PriceBreakdown {
        let quantity = quantity.clamp(0, MAX_QUANTITY);
        let subtotal = self.unit_price * quantity;
        let mut best: Option<(AppliedRule, i64)> = None;
        for (rule, total) in self.candidates(quantity, at) {
            let current = best.as_ref().map_or(subtotal, |(_, t)| *t);
            if total < current {
                best = Some((rule, total));
            }
        }
        let (rule, total) = match best {
            Some((rule, total)) => (Some(rule), total),
            None => (None, subtotal),
        };
        PriceBreakdown {
            currency: self.currency.clone(),
            unit_price: self.unit_price,
            quantity,
            subtotal,
            discount: subtotal - total,
            rule,
            total,
        }
    }

    /// The first instant after `at` when a rule starts or stops applying:
    /// what a countdown next to the price counts down to.
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let bundle_bounds = self.bundle.iter().flat_map(|b| [b.starts_at, b.ends_at]);
        let discount_bounds = self.discounts.iter().flat_map(|d| [d.starts_at, d.ends_at]);
        bundle_bounds
            .chain(discount_bounds)
            .flatten()
            .filter(|t| *t > at)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn list() -> PriceList {
        PriceList {
            unit_price: 2500,
            currency: "EUR".to_owned(),
            bundle: None,
            discounts: Vec::new(),
        }
    }

    #[test]
    fn without_rules_the_total_is_the_subtotal() {
        let price = list().price(3, at("2026-11-29T08:00:00Z"));
        assert_eq!(
            (price.subtotal, price.discount, price.total, price.rule),
            (7500, 0, 7500, None)
        );
    }

    #[test]
    fn a_bundle_prices_full_groups_and_leaves_the_rest_at_unit_price() {
        let mut list = list();
        list.bundle = Some(Bundle {
            units: 3,
            price: 6000,
            starts_at: None,
            ends_at: None,
        });
        let now = at("2026-11-29T08:00:00Z");
        // 7 = two groups of 3 (2 × 60.00) + 1 unit (25.00).
        let seven = list.price(7, now);
        assert_eq!(
            (seven.subtotal, seven.total, seven.discount),
            (17500, 14500, 3000)
        );
        // Fewer units than a group: no discount, no rule.
        let two = list.price(2, now);
        assert_eq!((two.total, two.rule), (5000, None));
    }

    #[test]
    fn a_bundle_timer_stops_at_its_end() {
        let mut list = list();
        list.bundle = Some(Bundle {
            units: 2,
            price: 4000,
            starts_at: None,
            ends_at: Some(at("2026-11-29T08:10:00Z")),
        });
        assert_eq!(list.price(2, at("2026-11-29T08:09:59.999Z")).total, 4000);
        assert_eq!(list.price(2, at("2026-11-29T08:10:00Z")).total, 5000);
        assert_eq!(
            list.next_change(at("2026-11-29T08:00:00Z")),
            Some(at("2026-11-29T08:10:00Z"))
        );
        assert_eq!(list.next_change(at("2026-11-29T08:10:00Z")), None);
    }

    #[test]
    fn percentage_rounds_the_discount_down_to_the_minor_unit() {
        let mut list = list();
        list.unit_price = 999;
        list.discounts.push(Discount {
            kind: DiscountKind::Percentage { percent: 15 },
            starts_at: None,
            ends_at: None,
        });
        // 3 × 9.99 = 29.97; 15 % = 4.4955 → 4.49 off.
        let price = list.price(3, at("2026-11-29T08:00:00Z"));
        assert_eq!(
            (price.subtotal, price.discount, price.total),
            (2997, 449, 2548)
        );
    }

    #[test]
    fn amount_comes_off_each_unit_but_never_below_zero() {
        let mut list = list();
        list.discounts.push(Discount {
            kind: DiscountKind::Amount { amount: 300 },
            starts_at: None,
            ends_at: None,
        });
        let price = list.price(4, at("2026-11-29T08:00:00Z"));
        assert_eq!((price.discount, price.total), (1200, 8800));
        list.discounts[0].kind = DiscountKind::Amount { amount: 9999 };
        assert_eq!(list.price(4, at("2026-11-29T08:00:00Z")).total, 0);
    }

    #[test]
    fn the_best_single_rule_wins_and_rules_outside_their_window_do_not_count() {
        let mut list = list();
        list.bundle = Some(Bundle {
            units: 2,
            price: 4500,
            starts_at: None,
            ends_at: None,
        });
        list.discounts = vec![
            Discount {
                kind: DiscountKind::Percentage { percent: 20 },
                starts_at: Some(at("2026-11-29T08:00:00Z")),
                ends_at: Some(at("2026-11-29T08:05:00Z")),
            },
            Discount {
                kind: DiscountKind::NForPrice {
                    units: 4,
                    price: 7000,
                },
                starts_at: Some(at("2026-11-29T09:00:00Z")),
                ends_at: None,
            },
        ];
        // 08:01: bundle 2 × 45.00 = 90.00, 20 % off 100.00 = 80.00 → percentage.
        let early = list.price(4, at("2026-11-29T08:01:00Z"));
        assert_eq!(early.total, 8000);
        assert!(matches!(
            early.rule,
            Some(AppliedRule::Percentage { percent: 20, .. })
        ));
        // 08:30: only the bundle applies.
        assert_eq!(list.price(4, at("2026-11-29T08:30:00Z")).total, 9000);
        // 09:00: 4 for 70.00 starts.
        assert_eq!(list.price(4, at("2026-11-29T09:00:00Z")).total, 7000);
        assert_eq!(
            list.next_change(at("2026-11-29T08:01:00Z")),
            Some(at("2026-11-29T08:05:00Z"))
        );
    }

    #[test]
    fn validation_rejects_bad_lists() {
        let mut bad = list();
        bad.currency = "eur".to_owned();
        assert!(bad.validate().is_err());
        let mut bad = list();
        bad.discounts.push(Discount {
            kind: DiscountKind::Percentage { percent: 0 },
            starts_at: None,
            ends_at: None,
        });
        assert!(bad.validate().is_err());
        let mut bad = list();
        bad.bundle = Some(Bundle {
            units: 1,
            price: 100,
            starts_at: None,
            ends_at: None,
        });
        assert!(bad.validate().is_err());
        let mut bad = list();
        bad.discounts.push(Discount {
            kind: DiscountKind::Amount { amount: 1 },
            starts_at: Some(at("2026-11-29T09:00:00Z")),
            ends_at: Some(at("2026-11-29T08:00:00Z")),
        });
        assert!(bad.validate().is_err());
        assert!(list().validate().is_ok());
    }

    #[test]
    fn discounts_read_from_json_with_a_type_tag() {
        let list: PriceList = serde_json::from_str(
            r#"{"unit_price":1000,"currency":"USD",
                "bundle":{"units":3,"price":2500,"ends_at":"2026-11-29T08:10:00Z"},
                "discounts":[{"type":"percentage","percent":10},
                             {"type":"amount","amount":150,"starts_at":"2026-11-29T08:00:00Z"},
                             {"type":"n-for-price","units":5,"price":4000}]}"#,
        )
        .unwrap();
        assert!(list.validate().is_ok());
        assert_eq!(list.discounts.len(), 3);
        assert_eq!(
            list.discounts[2].kind,
            DiscountKind::NForPrice {
                units: 5,
                price: 4000
            }
        );
    }
}
