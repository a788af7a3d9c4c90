//! Typed calls into a moderation worker (world
//! `studio:edge/moderation-worker`).
//!
//! A blocklist is parsed once ([`ModerationComponent::parse_blocklist`]) into
//! the packed form (32 bytes an entry) and passed to every
//! [`ModerationComponent::moderate`] call: a fresh instance per frame cannot
//! keep it, and one copy of 3.2 MB per 100,000 entries costs far less than
//! parsing the text again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
//! use studio_edge::typed::moderation::ModerationComponent;
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let worker = ModerationComponent::load(
//!     &runtime,
//!     "target/wasm32-wasip2/release/studio_edge_moderation.wasm".as_ref(),
//!     GuestConfig::named("moderation"),
//! )?;
//! let config = worker.parse_options("qr_allow=shop.example").await??;
//! let list = worker.parse_blocklist(&std::fs::read_to_string("blocklist.txt")?, config.min_quality).await??;
//! let report = worker.moderate(&std::fs::read("frame.jpg")?, &config, None, &list.hashes).await??;
//! println!("{:?} {}", report.action, report.json);
//! # Ok(())
//! # }
//! ```

use crate::runtime::GuestError;

/// `bindgen!` output for the world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "studio:edge/moderation-worker",
        exports: { default: async },
        require_store_data_send: true,
    });
}

pub use bindings::exports::studio::edge::moderation::{
    Action, BlocklistMatch, Config, Hint, PackedBlocklist, Pdq, Report, Severity,
};
pub use bindings::studio::edge::types::Error as WorkerError;

/// A moderation component, linked and ready; every call gets a fresh
/// instance. Cheap to clone.
pub type ModerationComponent =
    super::TypedComponent<bindings::exports::studio::edge::moderation::GuestIndices>;

super::export!(bindings::exports::studio::edge::moderation);

impl ModerationComponent {
    /// `default-config`: the documented thresholds.
    pub async fn default_config(&self) -> Result<Config, GuestError> {
        self.call(async |store, worker| worker.call_default_config(store).await)
            .await
    }

    /// `parse-options`: URL options on top of the defaults.
    pub async fn parse_options(
        &self,
        query: &str,
    ) -> Result<Result<Config, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_parse_options(store, query).await)
            .await
    }

    /// `parse-blocklist`: the text form to the packed form, once per list.
    pub async fn parse_blocklist(
        &self,
        text: &str,
        min_quality: u32,
    ) -> Result<Result<PackedBlocklist, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_parse_blocklist(store, text, min_quality).await)
            .await
    }

    /// `moderate`: hints for one encoded frame. `previous` is the previous
    /// frame's hash (64 hex digits); `blocklist` the packed hashes.
    pub async fn moderate(
        &self,
        image: &[u8],
        config: &Config,
        previous: Option<&str>,
        blocklist: &[u8],
    ) -> Result<Result<Report, WorkerError>, GuestError> {
        let previous = previous.map(str::to_owned);
        self.call(async |store, worker| {
            worker
                .call_moderate(store, image, config, previous.as_deref(), blocklist)
                .await
        })
        .await
    }

    /// `find-matches`: blocklist entries near a frame's dihedral hashes.
    pub async fn find_matches(
        &self,
        dihedral: &[String],
        blocklist: &[u8],
        max_distance: u32,
    ) -> Result<Result<Vec<BlocklistMatch>, WorkerError>, GuestError> {
        self.call(async |store, worker| {
            worker
                .call_find_matches(store, dihedral, blocklist, max_distance)
                .await
        })
        .await
    }

    /// `hash`: only the PDQ hashes of an encoded image.
    pub async fn hash(&self, image: &[u8]) -> Result<Result<Pdq, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_hash(store, image).await)
            .await
    }
}
