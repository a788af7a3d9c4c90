//! Spin's `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0`
//! for runtimes that have neither, as a component composed in front of a
//! worker.
//!
//! The workers read their settings through Spin variables, which Spin and
//! `studio-edge up` provide; the wasmtime 48 CLI does not, so a worker
//! served with `wasmtime serve` alone fails to instantiate.
//! `scripts/build-workers.sh` therefore composes each worker with this
//! adapter into a second artefact, `<worker>.wasmtime.wasm`, beside the one
//! Spin runs. The adapter answers:
//!
//! * `variables.get(name)`: the environment variable named by
//!   [`env_name`], that is the variable name in upper case (`signing_key`
//!   ← `SIGNING_KEY`, `origin_url` ← `ORIGIN_URL`); `undefined` when the
//!   environment has no such variable (an empty value is a value), and
//!   `invalid-name` for a name Spin would not accept (lower-case ASCII
//!   letters, digits and single underscores, starting with a letter and
//!   not ending with `_`), so no name can reach an environment variable
//!   that Spin could not have declared;
//! * `key-value.store.open(label)`: `no-such-store` for every label, as
//!   Spin answers for a store the manifest does not list (instances live
//!   for one request under `wasmtime serve`, so a store there could hold
//!   nothing worth reading).
//!
//! ```sh
//! scripts/build-workers.sh
//! wasmtime serve -Scli --env SIGNING_KEY=00ff --env SIGNING_SALT=aa \
//!     target/wasm32-wasip2/release/studio_edge_thumbnail.wasmtime.wasm
//! ```

#[cfg(target_arch = "wasm32")]
mod component;

/// Why a variable has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The name is not one Spin accepts; the text says why.
    InvalidName(String),
    /// The environment has no variable of that name.
    Undefined(String),
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidName(why) | Self::Undefined(why) => f.write_str(why),
        }
    }
}

/// The environment variable that holds the Spin variable `name`: `name` in
/// upper case, after checking it is a valid Spin variable name.
pub fn env_name(name: &str) -> Result<String, Lookup> {
    let invalid = |why: &str| Err(Lookup::InvalidName(format!("{name:?} {why}")));
    let Some(first) = name.bytes().next() else {
        return invalid("is empty");
    };
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return invalid("may hold only lower-case ASCII letters, digits and underscores");
    }
    if !first.is_ascii_lowercase() {
        return invalid("must start with a lower-case letter");
    }
    if name.ends_with('_') || name.contains("__") {
        return invalid("must not end with '_' or hold '__'");
    }
    Ok(name.to_ascii_uppercase())
}

/// The value of the Spin variable `name` in `environment` (name, value
/// pairs, as `wasi:cli/environment.get-environment` returns them).
pub fn lookup(name: &str, environment: &[(String, String)]) -> Result<String, Lookup> {
    let key = env_name(name)?;
    environment
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, value)| value.clone())
        .ok_or_else(|| Lookup::Undefined(format!("no environment variable {key} for {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_variable_is_its_upper_case_environment_variable() {
        let environment = env(&[
            ("SIGNING_KEY", "00ff"),
            ("ORIGIN_URL", ""),
            ("signing_salt", "aa"),
        ]);
        assert_eq!(lookup("signing_key", &environment), Ok("00ff".to_owned()));
        assert_eq!(lookup("origin_url", &environment), Ok(String::new()));
        assert!(matches!(
            lookup("signing_salt", &environment),
            Err(Lookup::Undefined(_))
        ));
        assert_eq!(env_name("max_source_bytes2").unwrap(), "MAX_SOURCE_BYTES2");
    }

    #[test]
    fn names_spin_refuses_are_invalid() {
        for name in [
            "",
            "SIGNING_KEY",
            "1key",
            "_key",
            "key_",
            "a__b",
            "a-b",
            "ключ",
        ] {
            assert!(
                matches!(env_name(name), Err(Lookup::InvalidName(_))),
                "{name:?}"
            );
        }
    }
}
