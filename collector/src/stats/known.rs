//! The values seen in each named dimension (touchpoint, site, agent, segment), with their
//! responses over all time: what the cardinality bound counts, what the dashboard's menus offer,
//! and the one shared copy of each name the cells hold.

use std::{collections::HashMap, sync::Arc};

use super::{Cell, Dim};

/// The named dimensions, in the order of [`Known`]'s maps.
const NAMED: [Dim; 4] = [Dim::Touchpoint, Dim::Site, Dim::Agent, Dim::Segment];

/// The values of one dimension a menu offers: the busiest first, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busiest {
    pub values: Vec<String>,
    /// Distinct values in the dimension, shown or not.
    pub of: usize,
}

/// Every value seen per named dimension, with the responses that carried it.
#[derive(Default)]
pub(super) struct Known {
    by: [HashMap<Arc<str>, u64>; 4],
}

fn slot(dim: Dim) -> Option<usize> {
    NAMED.iter().position(|d| *d == dim)
}

impl Known {
    /// The shared copy of `name` in `dim`, made known (with no responses yet) when it is new.
    pub(super) fn intern(&mut self, dim: Dim, name: &str) -> Arc<str> {
        let Some(at) = slot(dim) else {
            return Arc::from(name);
        };
        if let Some((known, _)) = self.by[at].get_key_value(name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        self.by[at].insert(Arc::clone(&name), 0);
        name
    }

    /// Adds `responses` to each of the cell's names.
    pub(super) fn count(&mut self, cell: &Cell, responses: u64) {
        for (at, name) in [
            Some(&cell.touchpoint),
            cell.site.as_ref(),
            cell.agent.as_ref(),
            cell.segment.as_ref(),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(n) = name.and_then(|name| self.by[at].get_mut(name)) {
                *n += responses;
            }
        }
    }

    pub(super) fn contains(&self, dim: Dim, name: &str) -> bool {
        slot(dim).is_some_and(|at| self.by[at].contains_key(name))
    }

    pub(super) fn len(&self, dim: Dim) -> usize {
        slot(dim).map_or(0, |at| self.by[at].len())
    }

    /// The `n` values of `dim` with the most responses (ties by name), in name order.
    pub(super) fn busiest(&self, dim: Dim, n: usize) -> Busiest {
        let Some(at) = slot(dim) else {
            return Busiest {
                values: Vec::new(),
                of: 0,
            };
        };
        let mut all: Vec<(&Arc<str>, u64)> = self.by[at].iter().map(|(k, v)| (k, *v)).collect();
        let of = all.len();
        if all.len() > n {
            all.select_nth_unstable_by(n, |a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            all.truncate(n);
        }
        let mut values: Vec<String> = all.into_iter().map(|(k, _)| k.to_string()).collect();
        values.sort();
        Busiest { values, of }
    }
}
