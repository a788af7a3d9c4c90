//! End-to-end tests: real components, a real host, real HTTP.
//! One test binary so that wasmtime is linked once.

mod support;

mod big_images;
mod color;
mod host;
mod ingest;
mod limits;
mod moderation;
mod orders;
mod spin_app;
mod thumbnail;
