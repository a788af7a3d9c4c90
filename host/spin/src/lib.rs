//! Spin's host interfaces, so that `studio-edge up` runs any Spin app as
//! `spin up` does.
//!
//! Each interface is one module with its own `bindgen!` over the WIT in
//! `wit/deps` (vendored as Spin and spin-sdk 5.2 publish it) and a host
//! implementation on [`SpinCtxView`]:
//!
//! | module | interfaces |
//! |---|---|
//! | [`variables`] | `fermyon:spin/variables@2.0.0`, `wasi:config/store@0.2.0-draft-2024-09-27` |
//! | [`key_value`] | `fermyon:spin/key-value@2.0.0`, `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` |
//! | [`sqlite`] | `fermyon:spin/sqlite@2.0.0` |
//! | [`redis`] | `fermyon:spin/redis@2.0.0` (outbound) |
//! | [`mqtt`] | `fermyon:spin/mqtt@2.0.0` (outbound) |
//! | [`postgres`] | `spin:postgres/postgres@4.0.0`, `fermyon:spin/postgres@2.0.0` (outbound) |
//!
//! What a component may use comes from its manifest entry, as in Spin: its
//! resolved `[component.x.variables]`, the `key_value_stores` and
//! `sqlite_databases` labels it lists, and its `allowed_outbound_hosts`
//! ([`outbound`]), all held in one [`ComponentServices`] shared by every
//! instance of the component. A store or database the component does not
//! list answers `access-denied`; an outbound address it does not allow is
//! refused before any connection is made.
//!
//! ```no_run
//! use std::sync::Arc;
//! use studio_edge_spin::{ComponentServices, SpinCtx, SpinCtxView, SpinView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct State { spin: SpinCtx, table: ResourceTable }
//! impl SpinView for State {
//!     fn spin(&mut self) -> SpinCtxView<'_> {
//!         SpinCtxView { ctx: &mut self.spin, table: &mut self.table }
//!     }
//! }
//!
//! let engine = wasmtime::Engine::default();
//! let mut linker = Linker::<State>::new(&engine);
//! studio_edge_spin::add_to_linker(&mut linker)?;
//! let services = Arc::new(ComponentServices::named("hello"));
//! let state = State { spin: SpinCtx::new(services), table: ResourceTable::new() };
//! # let _ = state;
//! # Ok::<(), wasmtime::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

pub mod key_value;
pub mod mqtt;
pub mod outbound;
pub mod postgres;
pub mod redis;
pub mod runtime_config;
pub mod sqlite;
pub mod variables;

use outbound::AllowedHosts;

/// What one component of an app may use; shared by all its instances.
pub struct ComponentServices {
    /// The component's id (for logs).
    pub id: String,
    /// The component's variables, resolved from the app's `[variables]`.
    pub variables: BTreeMap<String, String>,
    /// The key-value stores the component lists, by label.
    pub key_value: BTreeMap<String, Arc<key_value::Store>>,
    /// The SQLite databases the component lists, by label.
    pub sqlite: BTreeMap<String, Arc<sqlite::Database>>,
    /// Where the component may connect (HTTP, TCP, Redis, PostgreSQL, MQTT).
    pub outbound: Arc<AllowedHosts>,
}

impl ComponentServices {
    /// No variables, stores, databases or outbound access.
    pub fn named(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            variables: BTreeMap::new(),
            key_value: BTreeMap::new(),
            sqlite: BTreeMap::new(),
            outbound: Arc::new(AllowedHosts::none()),
        }
    }
}

/// The Spin state of one instance.
pub struct SpinCtx {
    pub(crate) services: Arc<ComponentServices>,
}

impl SpinCtx {
    pub fn new(services: Arc<ComponentServices>) -> Self {
        Self { services }
    }

    pub fn services(&self) -> &ComponentServices {
        &self.services
    }
}

/// A borrow of an instance's Spin state and its resource table; the host
/// interfaces are implemented on it.
pub struct SpinCtxView<'a> {
    pub ctx: &'a mut SpinCtx,
    pub table: &'a mut ResourceTable,
}

/// A store's data that holds a [`SpinCtx`].
pub trait SpinView: Send {
    fn spin(&mut self) -> SpinCtxView<'_>;
}

/// The [`HasData`] that projects a store's data onto its [`SpinCtxView`].
pub(crate) struct HasSpin;

impl HasData for HasSpin {
    type Data<'a> = SpinCtxView<'a>;
}

pub(crate) fn view<T: SpinView>(state: &mut T) -> SpinCtxView<'_> {
    state.spin()
}

/// Adds every Spin interface this crate provides to `linker`.
pub fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    variables::add_to_linker(linker)?;
    key_value::add_to_linker(linker)?;
    sqlite::add_to_linker(linker)?;
    redis::add_to_linker(linker)?;
    mqtt::add_to_linker(linker)?;
    postgres::add_to_linker(linker)?;
    Ok(())
}

/// What the interface modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use crate::outbound::AllowedHosts;
    use crate::{ComponentServices, SpinCtx};

    /// A component's Spin state that may connect where `allowed` says.
    pub fn ctx(allowed: &[&str]) -> SpinCtx {
        SpinCtx::new(Arc::new(ComponentServices {
            outbound: Arc::new(AllowedHosts::parse(allowed).unwrap()),
            ..ComponentServices::named("t")
        }))
    }

    /// `<process id>_<nanoseconds>`: part of names no other test run uses.
    pub fn run_id() -> String {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_nanos();
        format!("{}_{nanos}", std::process::id())
    }
}

/// The interfaces Spin offers that this host does not, named so that a
/// component importing one is refused at startup with a clear message.
pub const NOT_PROVIDED: [&str; 4] = [
    "fermyon:spin/llm@2.0.0",
    "fermyon:spin/mysql@2.0.0",
    "spin:mysql/mysql@3.0.0",
    "wasi:http/handler@0.3.0",
];
