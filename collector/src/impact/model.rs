//! The arithmetic of the business view, pure: effort bands, Wilson intervals for rates, and a
//! least-squares slope with its 95 % interval, each saying "too few answers to say" when that
//! is the truth.

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Fewer answers than this in a band (or behind a fit) and the view says too few to say.
pub const MIN_ANSWERS: u64 = 20;

/// Where an answer's effort puts it: hard (1–3), neutral (4) or easy (5–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Hard = 0,
    Neutral = 1,
    Easy = 2,
}

impl Band {
    pub const ALL: [Band; 3] = [Band::Hard, Band::Neutral, Band::Easy];

    /// The band of an effort answer (1–7).
    pub fn of(effort: u8) -> Self {
        match effort {
            0..=3 => Self::Hard,
            4 => Self::Neutral,
            _ => Self::Easy,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Neutral => "neutral",
            Self::Easy => "easy",
        }
    }

    /// What the band holds, as people read it.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Hard => "effort 1-3",
            Self::Neutral => "effort 4",
            Self::Easy => "effort 5-7",
        }
    }
}

/// The Wilson score interval (95 %) of `k` successes in `n` trials; `None` when `n` is 0.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Running sums for a least-squares line of a 0/1 outcome on a measure scaled to 0..1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub n: u64,
    pub x: f64,
    pub xx: f64,
    pub y: f64,
    pub xy: f64,
}

/// A fitted slope: how much the outcome's rate changes from the lowest answer on the scale to
/// the highest, with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slope {
    pub slope: f64,
    pub low: f64,
    pub high: f64,
}

impl Slope {
    /// Whether the interval leaves out zero: the data say the measure moves the outcome.
    pub fn clear(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

impl Sums {
    /// Adds an answer at `x` (0..1) that had the outcome (`y` 1) or not (0).
    pub fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.x += x;
        self.xx += x * x;
        self.y += y;
        self.xy += x * y;
    }

    /// The least-squares slope with its normal 95 % interval; `None` (too few to say) under
    /// [`MIN_ANSWERS`] answers or when every answer is the same.
    pub fn fit(&self) -> Option<Slope> {
        if self.n < MIN_ANSWERS {
            return None;
        }
        let n = self.n as f64;
        let sxx = self.xx - self.x * self.x / n;
        let sxy = self.xy - self.x * self.y / n;
        // y is 0 or 1, so the sum of its squares is its sum.
        let syy = self.y - self.y * self.y / n;
        if sxx <= 1e-12 {
            return None;
        }
        let slope = sxy / sxx;
        let sse = (syy - slope * sxy).max(0.0);
        let se = (sse / (n - 2.0) / sxx).sqrt();
        Some(Slope {
            slope,
            low: slope - Z95 * se,
            high: slope + Z95 * se,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_effort_scale() {
        let bands: Vec<_> = (1..=7).map(|e| Band::of(e).name()).collect();
        assert_eq!(
            bands,
            ["hard", "hard", "hard", "neutral", "easy", "easy", "easy"]
        );
    }

    /// Published values: 8 of 20 gives 0.2188..0.6134 (Wilson, 95 %).
    #[test]
    fn wilson_matches_a_known_interval() {
        let (low, high) = wilson(8, 20).unwrap();
        assert!((low - 0.2188).abs() < 1e-3, "{low}");
        assert!((high - 0.6134).abs() < 1e-3, "{high}");
        assert_eq!(wilson(0, 0), None);
        let (low, high) = wilson(0, 50).unwrap();
        assert!(low.abs() < 1e-12, "{low}");
        assert!(high > 0.0 && high < 0.1);
    }

    #[test]
    fn a_clear_line_is_found_and_noise_is_not() {
        let mut clear = Sums::default();
        let mut flat = Sums::default();
        for i in 0..200u32 {
            let x = f64::from(i % 7) / 6.0;
            // The outcome only at the hard end.
            clear.add(x, if x < 0.4 { 1.0 } else { 0.0 });
            flat.add(x, f64::from(i % 2));
        }
        let fit = clear.fit().unwrap();
        assert!(fit.slope < -0.5 && fit.clear(), "{fit:?}");
        let fit = flat.fit().unwrap();
        assert!(!fit.clear(), "{fit:?}");
        let mut few = Sums::default();
        few.add(0.0, 1.0);
        few.add(1.0, 0.0);
        assert_eq!(few.fit(), None);
    }
}
