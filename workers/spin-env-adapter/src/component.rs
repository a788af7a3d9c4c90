//! The component face: the two Spin exports over `wasi:cli/environment`.

wit_bindgen::generate!({
    world: "spin-env-adapter",
    path: "../../wit",
    generate_all,
});

use exports::fermyon::spin::key_value::{self, Error as StoreError};
use exports::fermyon::spin::variables::{self, Error as VariableError};
use wasi::cli::environment::get_environment;

use crate::Lookup;

struct Adapter;

impl variables::Guest for Adapter {
    fn get(name: String) -> Result<String, VariableError> {
        crate::lookup(&name, &get_environment()).map_err(|e| match e {
            Lookup::InvalidName(why) => VariableError::InvalidName(why),
            Lookup::Undefined(why) => VariableError::Undefined(why),
        })
    }
}

/// No store can be opened, so no store value exists.
enum NoStore {}

impl key_value::Guest for Adapter {
    type Store = NoStore;
}

impl key_value::GuestStore for NoStore {
    fn open(_label: String) -> Result<key_value::Store, StoreError> {
        Err(StoreError::NoSuchStore)
    }

    fn get(&self, _key: String) -> Result<Option<Vec<u8>>, StoreError> {
        match *self {}
    }

    fn set(&self, _key: String, _value: Vec<u8>) -> Result<(), StoreError> {
        match *self {}
    }

    fn delete(&self, _key: String) -> Result<(), StoreError> {
        match *self {}
    }

    fn exists(&self, _key: String) -> Result<bool, StoreError> {
        match *self {}
    }

    fn get_keys(&self) -> Result<Vec<String>, StoreError> {
        match *self {}
    }
}

export!(Adapter);
