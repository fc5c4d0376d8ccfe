//! Reporting periods: an ISO week or a month, as whole days, and the period before.

use crate::stats::{self, BadQuery};

/// A reporting period: an ISO week (`2026-W47`) or a month (`2026-11`), as whole UTC days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub from_day: i64,
    /// Exclusive.
    pub to_day: i64,
}

impl Period {
    pub fn parse(text: &str) -> Result<Self, BadQuery> {
        let bad = BadQuery("period must be an ISO week like 2026-W47 or a month like 2026-11");
        let year: i64 = text
            .get(..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|y| y.parse().ok())
            .ok_or(bad)?;
        match text.get(4..) {
            Some(week) if week.starts_with("-W") && week.len() == 4 => {
                let n: i64 = week[2..].parse().map_err(|_| bad)?;
                let from_day = stats::week_start(year, n).ok_or(bad)?;
                Ok(Self {
                    label: format!("{year:04}-W{n:02}"),
                    from_day,
                    to_day: from_day + 7,
                })
            }
            Some(month) if month.starts_with('-') && month.len() == 3 => {
                let m: i64 = month[1..].parse().map_err(|_| bad)?;
                if !(1..=12).contains(&m) {
                    return Err(bad);
                }
                let from_day = stats::parse_date(&format!("{year:04}-{m:02}-01")).ok_or(bad)?;
                let (ny, nm) = if m == 12 {
                    (year + 1, 1)
                } else {
                    (year, m + 1)
                };
                let to_day = stats::parse_date(&format!("{ny:04}-{nm:02}-01")).ok_or(bad)?;
                Ok(Self {
                    label: format!("{year:04}-{m:02}"),
                    from_day,
                    to_day,
                })
            }
            _ => Err(bad),
        }
    }

    /// The period just before, of the same kind.
    pub fn previous(&self) -> Self {
        if self.label.contains("-W") {
            let from_day = self.from_day - 7;
            return Self {
                label: stats::week_label(from_day),
                from_day,
                to_day: self.from_day,
            };
        }
        let last = stats::date_of(self.from_day - 1);
        Self::parse(&last[..7]).unwrap_or(Self {
            label: last[..7].to_owned(),
            from_day: self.from_day - 30,
            to_day: self.from_day,
        })
    }

    /// The current ISO week of a day.
    pub fn week_of(day: i64) -> Self {
        let label = stats::week_label(day);
        Self::parse(&label).unwrap_or(Self {
            label,
            from_day: day,
            to_day: day + 1,
        })
    }

    /// `2026-11-16 – 2026-11-22`
    pub fn dates(&self) -> String {
        format!(
            "{} – {}",
            stats::date_of(self.from_day),
            stats::date_of(self.to_day - 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_weeks_or_months() {
        let w = Period::parse("2026-W47").expect("a week");
        assert_eq!(w.dates(), "2026-11-16 – 2026-11-22");
        assert_eq!(w.previous().label, "2026-W46");
        assert_eq!(
            Period::parse("2026-W01").expect("a week").previous().label,
            "2025-W52"
        );
        let m = Period::parse("2026-03").expect("a month");
        assert_eq!(m.dates(), "2026-03-01 – 2026-03-31");
        assert_eq!(m.previous().dates(), "2026-02-01 – 2026-02-28");
        assert_eq!(
            Period::parse("2026-01").expect("a month").previous().label,
            "2025-12"
        );
        for bad in [
            "2026", "2026-W54", "2025-W53", "2026-13", "26-W01", "2026-W4x", "",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
