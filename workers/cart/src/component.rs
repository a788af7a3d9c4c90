//! The component face: `wasi:http/incoming-handler` calling [`crate::handle`]
//! with outbound `wasi:http` to the origin named by the `origin_url`
//! variable, and the sold-out shield over the manifest's `default`
//! key-value store when the runtime provides it.

use studio_edge_guest::variables;
use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam, WasiFetch};

use crate::shield::{Shield, ShieldStore};
use crate::timestamp::Timestamp;

studio_edge_guest::generate_worker!(
    "cart-worker",
    "fermyon:spin/variables@2.0.0": studio_edge_guest::wasi_http::fermyon::spin::variables,
    "fermyon:spin/key-value@2.0.0": generate,
);

use fermyon::spin::key_value::Store;

/// The manifest's store (`key_value_stores = ["default"]`).
const STORE_LABEL: &str = "default";

struct SpinStore(Store);

impl ShieldStore for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(key).map_err(|e| e.to_string())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.set(key, value).map_err(|e| e.to_string())
    }
}

struct Worker;

impl exports::wasi::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        wasi_http::serve(request, out, crate::MAX_BODY, |request| {
            let origin = match crate::origin(&variables::read_spin(crate::VARIABLES)) {
                Ok(origin) => origin,
                Err(problem) => return problem.into_response(),
            };
            // Not listed in the manifest, or not provided by the runtime
            // (`wasmtime serve`): the cart works without the shield.
            let store = Store::open(STORE_LABEL).ok().map(SpinStore);
            let shield = store
                .as_ref()
                .map_or_else(Shield::off, |store| Shield::new(store));
            crate::handle(request, &origin, &WasiFetch, shield, Timestamp::now())
        });
    }
}

export!(Worker);
