//! The dashboard's business view: for each touchpoint with outcomes, each outcome's rate by
//! effort band with the counts behind it and its interval, what the difference cost over the
//! period, and which measure moves it most, every number explained in words beside it. Names
//! and outcomes are escaped text.

use std::fmt::Write as _;

use crate::{
    impact::{
        model::{Band, MIN_ANSWERS},
        view::{happened, rate_text, OutcomeView, View, EXPLAINED, MEASURES},
    },
    read::html::escape,
};

/// The section while the business view reads in the answers stored before the collector
/// started.
pub fn preparing(out: &mut String) {
    out.push_str("<section class=\"panel\" id=\"impact\" aria-labelledby=\"impact-title\"><h2 id=\"impact-title\">What a hard experience costs</h2>\n<p>Being prepared: the collector is reading in the answers stored before it started (seconds at a million answers). Reload the page in a moment.</p>\n</section>\n");
}

/// The section, when there are outcomes or the organisation file costs some.
pub fn section(out: &mut String, view: &View, costed: bool) {
    let any = view
        .touchpoints
        .iter()
        .any(|t| t.outcomes.iter().any(happened));
    if !any && !costed {
        return;
    }
    out.push_str("<section class=\"panel\" id=\"impact\" aria-labelledby=\"impact-title\"><h2 id=\"impact-title\">What a hard experience costs</h2>\n");
    let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(EXPLAINED));
    if !any {
        out.push_str("<p>No outcome joins an answer in this period yet: send them to <code>POST /v1/outcomes</code>.</p>\n</section>\n");
        return;
    }
    for t in &view.touchpoints {
        let shown: Vec<&OutcomeView> = t.outcomes.iter().filter(|o| happened(o)).collect();
        if shown.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<p class=\"note\">{} answers with an interaction id: {} hard, {} neutral, {} easy, {} without an effort answer.</p>",
            escape(&t.name),
            t.answers.iter().sum::<u64>() + t.no_effort,
            t.answers[0],
            t.answers[1],
            t.answers[2],
            t.no_effort
        );
        for o in shown {
            let _ = writeln!(
                out,
                "<p class=\"impact-says\">{}</p>",
                escape(&o.sentence(&t.name, &t.answers, &view.currency))
            );
            let _ = write!(
                out,
                "<table><caption>{}: rate by effort band</caption>\n<thead><tr><th scope=\"col\">band</th><th scope=\"col\">answers</th><th scope=\"col\">with the outcome</th><th scope=\"col\">rate (95 % interval)</th></tr></thead>\n<tbody>\n",
                escape(&o.name)
            );
            for band in Band::ALL {
                let _ = writeln!(
                    out,
                    "<tr><th scope=\"row\">{} ({})</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                    band.name(),
                    band.meaning(),
                    t.answers[band as usize],
                    o.with[band as usize],
                    rate_text(o, &t.answers, band)
                );
            }
            out.push_str("</tbody>\n</table>\n<ul class=\"fits\">\n");
            for ((measure, fit), sums) in MEASURES.iter().zip(o.fits()).zip(&o.sums) {
                let _ = writeln!(
                    out,
                    "<li>{}</li>",
                    escape(&o.fit_sentence(measure, fit, sums.n))
                );
            }
            let most = match o.moves_most() {
                Some(m) => format!("{m} moves {} most.", o.name.to_lowercase()),
                None => format!(
                    "No measure clearly moves {} yet (too few answers to say, or no clear link; at least {MIN_ANSWERS} answers are needed for a fit).",
                    o.name.to_lowercase()
                ),
            };
            let _ = writeln!(out, "</ul>\n<p><strong>{}</strong></p>", escape(&most));
        }
    }
    out.push_str("</section>\n");
}
