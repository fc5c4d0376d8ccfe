//! HTTP API tests: the collector started in-process on a free port with a real sled store in a
//! temporary directory, driven over real HTTP.

mod helpers;

mod admin;
mod backdating;
mod cardinality;
mod contract;
mod deliveries;
mod demo_site;
mod ingest;
mod invitations;
mod openapi;
mod org;
mod origins;
mod outcomes;
mod preparing;
mod redaction;
mod stats;
mod themes;
mod widget_files;
