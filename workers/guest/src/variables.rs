//! Settings read through Spin's variables (`fermyon:spin/variables@2.0.0`).
//!
//! Spin, and `studio-edge up`, hand a component its
//! `[component.x.variables]` only through that interface, never as
//! environment variables (`wasmtime serve` gets it from the
//! `spin-env-adapter` composed into the `.wasmtime.wasm` artefacts). A
//! worker names the variables it uses once, reads them at the start of a
//! request into [`Variables`] and builds its configuration from that. The
//! reading takes any source function, so configurations are tested
//! natively without wasm; in a component the source is [`spin`].
//!
//! A variable that is undefined (not declared for the component) or blank
//! is "not set", and the worker uses its default. Any other failure (a
//! provider that cannot be reached, an invalid name) is [`Unreadable`]:
//! whatever depends on that variable refuses to run rather than run
//! without it.
//!
//! ```
//! use studio_edge_guest::variables::Variables;
//!
//! let variables = Variables::read(&["origin_url", "signing_key", "blocklist"], |name| {
//!     match name {
//!         "origin_url" => Ok(Some("http://self".to_owned())),
//!         "blocklist" => Err("vault unreachable".to_owned()),
//!         _ => Ok(None),
//!     }
//! });
//! assert_eq!(variables.get("origin_url"), Ok(Some("http://self")));
//! assert_eq!(variables.get("signing_key"), Ok(None));
//! let problem = variables.get("blocklist").unwrap_err().to_problem();
//! assert_eq!(problem.status, 503);
//! ```

use std::collections::BTreeMap;

use crate::Problem;

/// What reading one variable gave: its value, `None` when it is undefined,
/// or why it could not be read.
pub type Read = Result<Option<String>, String>;

/// A variable that could not be read for a reason other than being
/// undefined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub name: String,
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} variable could not be read: {}",
            self.name, self.reason
        )
    }
}

impl std::error::Error for Unreadable {}

impl Unreadable {
    /// The answer to a request that needs the variable: 503, since the
    /// provider may well answer the next request.
    pub fn to_problem(&self) -> Problem {
        Problem::new(
            503,
            "variable-unavailable",
            "Variable unavailable",
            self.to_string(),
        )
    }
}

/// The values of the variables a worker uses, read once per request.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, Read>,
}

impl Variables {
    /// Reads each of `names` from `source`.
    pub fn read(names: &[&str], source: impl Fn(&str) -> Read) -> Self {
        Self {
            values: names
                .iter()
                .map(|&name| (name.to_owned(), source(name)))
                .collect(),
        }
    }

    /// The value of `name`; `None` when it is undefined or blank. A name
    /// that was not among those read is unreadable, so a worker that
    /// forgot to list a variable fails closed.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Unreadable> {
        match self.values.get(name) {
            Some(Ok(value)) => Ok(value.as_deref().filter(|v| !v.trim().is_empty())),
            Some(Err(reason)) => Err(Unreadable {
                name: name.to_owned(),
                reason: reason.clone(),
            }),
            None => Err(Unreadable {
                name: name.to_owned(),
                reason: "the worker does not read it".to_owned(),
            }),
        }
    }
}

/// Reads one variable through `fermyon:spin/variables@2.0.0`: `undefined`
/// is `None`, any other error its text.
#[cfg(target_arch = "wasm32")]
pub fn spin(name: &str) -> Read {
    use crate::wasi_http::fermyon::spin::variables::{Error, get};
    match get(name) {
        Ok(value) => Ok(Some(value)),
        Err(Error::Undefined(_)) => Ok(None),
        Err(Error::InvalidName(why)) => Err(format!("invalid name: {why}")),
        Err(Error::Provider(why)) => Err(format!("provider error: {why}")),
        Err(Error::Other(why)) => Err(why),
    }
}

/// [`Variables::read`] through Spin's variables.
#[cfg(target_arch = "wasm32")]
pub fn read_spin(names: &[&str]) -> Variables {
    Variables::read(names, spin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_and_blank_are_not_set_other_errors_are_unreadable() {
        let variables = Variables::read(&["a", "b", "c", "d"], |name| match name {
            "a" => Ok(Some(" 42 ".to_owned())),
            "b" => Ok(Some("  ".to_owned())),
            "c" => Ok(None),
            _ => Err("provider error: timed out".to_owned()),
        });
        assert_eq!(variables.get("a"), Ok(Some(" 42 ")));
        assert_eq!(variables.get("b"), Ok(None));
        assert_eq!(variables.get("c"), Ok(None));
        let unreadable = variables.get("d").unwrap_err();
        assert_eq!(
            unreadable.to_string(),
            "the d variable could not be read: provider error: timed out"
        );
        let problem = unreadable.to_problem();
        assert_eq!(
            (problem.status, problem.kind.as_str()),
            (503, "variable-unavailable")
        );
        assert!(variables.get("never_read").is_err());
    }
}
