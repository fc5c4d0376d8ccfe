//! What masking a comment costs the collector per answer: the full masking pass
//! (`Comment::redacted`) against masking in place (`Comment::mask`), which skips the pass for a
//! comment with no at sign and fewer than seven digits, over comments like the demo's in its five
//! locales. `cargo run --release -p touchpoint-protocol --example masking`; prints nanoseconds per
//! comment for five rounds.

use std::{hint::black_box, time::Instant};

use protocol::Comment;

const COMMENTS: [&str; 6] = [
    "The activation code never arrived and I had to call twice.",
    "Quick and easy, thank you!",
    "El código de activación no llegó, tuve que llamar dos veces.",
    "Le code d'activation n'est jamais arrivé.",
    "Der Aktivierungscode kam nie an, ich musste zweimal anrufen.",
    "لم يصل رمز التفعيل واضطررت للاتصال مرتين",
];

const CALLS: usize = 400_000;

/// Nanoseconds per call of `f` on each comment in turn.
fn per_call(comments: &[Comment], f: impl Fn(&Comment) -> usize) -> f64 {
    let started = Instant::now();
    let mut kept = 0;
    for i in 0..CALLS {
        kept += f(&comments[i % comments.len()]);
    }
    black_box(kept);
    started.elapsed().as_nanos() as f64 / CALLS as f64
}

fn main() {
    let comments: Vec<Comment> = COMMENTS
        .iter()
        .filter_map(|c| Comment::parse(c).ok().flatten())
        .collect();
    for round in 1..=5 {
        let pass = per_call(&comments, |c| c.redacted().as_str().len());
        let in_place = per_call(&comments, |c| {
            let mut c = c.clone();
            c.mask();
            c.as_str().len()
        });
        println!("round {round}: full pass {pass:.0} ns, in place {in_place:.0} ns per comment");
    }
}
