//! HTTP API tests: the collector started in-process on a free port with a real sled store in a
//! temporary directory, driven over real HTTP.

mod helpers;

mod admin;
mod cardinality;
mod demo_site;
mod ingest;
mod invitations;
mod openapi;
mod origins;
mod stats;
mod widget_files;
