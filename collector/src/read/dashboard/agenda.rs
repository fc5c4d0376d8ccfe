//! The dashboard's agenda: the council's actions (open, overdue, done) with a form to record one
//! and, on each open one, a form to close it with what was done. Plain forms, no script.

use std::fmt::Write as _;

use crate::{
    org::{self, agenda::Action, Organisation},
    read::html::escape,
};

/// The agenda section: `actions` as they stand on `today` (`YYYY-MM-DD`), newest first.
pub fn section(out: &mut String, actions: &[Action], org: Option<&Organisation>, today: &str) {
    out.push_str(
        "<section class=\"panel\" id=\"agenda\" aria-labelledby=\"agenda-title\"><h2 id=\"agenda-title\">Council actions</h2>\n",
    );
    if actions.is_empty() {
        out.push_str("<p class=\"note\">No actions recorded yet.</p>\n");
    } else {
        out.push_str("<table class=\"agenda\">\n<thead><tr><th scope=\"col\">action</th><th scope=\"col\">department</th><th scope=\"col\">touchpoint</th><th scope=\"col\">due</th><th scope=\"col\">status</th><th scope=\"col\">note</th></tr></thead>\n<tbody>\n");
        for action in actions.iter().rev() {
            let standing = action.standing(today).as_str();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"standing {standing}\">{standing}</span></td><td>",
                escape(&action.what),
                escape(&org::department_name(org, &action.department)),
                escape(action.touchpoint.as_deref().unwrap_or("–")),
                escape(&action.due),
            );
            match &action.closed_at {
                Some(_) => out.push_str(&escape(action.note.as_deref().unwrap_or(""))),
                None => {
                    let _ = write!(
                        out,
                        "<form class=\"close\" method=\"post\" action=\"/dashboard/actions/{}/close\">\
                         <label>What was done<input name=\"note\" maxlength=\"1000\"></label>\
                         <button type=\"submit\">Close</button></form>",
                        escape(&action.id)
                    );
                }
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<form class=\"record\" method=\"post\" action=\"/dashboard/actions\"><h3>Record an action</h3>\n<label>What is to be done<input name=\"what\" required maxlength=\"500\"></label>\n<label>Owning department<select name=\"department\" required>");
    for (id, name) in org::departments(org) {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            escape(&id),
            escape(&name)
        );
    }
    let _ = write!(
        out,
        "</select></label>\n<label>Touchpoint (optional)<input name=\"touchpoint\" maxlength=\"64\"></label>\n\
         <label>Due<input type=\"date\" name=\"due\" required min=\"{}\"></label>\n\
         <button type=\"submit\">Record</button></form>\n</section>\n",
        escape(today)
    );
}
