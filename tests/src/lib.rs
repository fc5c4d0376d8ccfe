//! Helpers for the end-to-end tests: start the real `touchpoint-collector` binary on a free port
//! with a data directory on disk, talk to it over HTTP, and kill it.
