//! The organisation file's outcomes (`[[outcome]]`: what each costs) and its currency, checked
//! with their lines like the rest of the file.

use serde::Deserialize;
use toml::Spanned;

use super::OrgError;

/// `[[outcome]]` as written; checked in [`super::file`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutcome {
    pub(super) id: Spanned<String>,
    #[serde(default)]
    pub(super) name: Option<Spanned<String>>,
    pub(super) cost: Spanned<f64>,
}

/// An outcome the organisation's systems report, and what one costs.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeCost {
    /// The `outcome` of `POST /v1/outcomes` lines.
    pub id: String,
    /// What people read (the id when the file gives none).
    pub name: String,
    /// What one costs, in the organisation's currency.
    pub cost: f64,
}

/// The currency costs are in: an ISO 4217 code, and the sign it is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub code: String,
}

impl Default for Currency {
    fn default() -> Self {
        Self { code: "GBP".into() }
    }
}

impl Currency {
    /// `amount` rounded to a whole unit, with its sign: "£4,200", "CHF 1,050".
    pub fn format(&self, amount: f64) -> String {
        let whole = amount.abs().round() as u64;
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if amount < 0.0 && whole > 0 { "-" } else { "" };
        match self.code.as_str() {
            "GBP" => format!("{sign}£{grouped}"),
            "EUR" => format!("{sign}€{grouped}"),
            "USD" => format!("{sign}${grouped}"),
            code => format!("{sign}{code} {grouped}"),
        }
    }
}

/// Checks `[organisation] currency`: three capital letters (ISO 4217), GBP when not given.
pub(super) fn currency(
    raw: Option<&Spanned<String>>,
    at: &dyn Fn(std::ops::Range<usize>, String) -> OrgError,
) -> Result<Currency, OrgError> {
    let Some(code) = raw else {
        return Ok(Currency::default());
    };
    let text = code.get_ref();
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(at(
            code.span(),
            format!("currency {text:?} must be an ISO 4217 code of three capital letters, like GBP or EUR"),
        ));
    }
    Ok(Currency { code: text.clone() })
}
