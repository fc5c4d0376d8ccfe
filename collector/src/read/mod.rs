//! Reading what was stored: [`export`] (CSV and NDJSON, streamed), the [`dashboard`], the council
//! [`report`], the comments' [`themes`], and the [`html`] pieces the dashboard and report share. Everything here reads through the
//! store and its stats cells; nothing writes.

pub mod dashboard;
pub mod export;
pub mod html;
pub mod journeys;
pub mod report;
pub mod themes;
