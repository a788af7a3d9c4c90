//! `fermyon:spin/variables@2.0.0` and `wasi:config/store@0.2.0-draft-2024-09-27`:
//! a component reads its `[component.x.variables]`, resolved from the app's
//! `[variables]` (defaults, `SPIN_VARIABLE_<NAME>`, `--variable`), as Spin
//! provides them. Spin never hands them over as environment variables.
//!
//! A name that breaks Spin's rule (lower-case letters, digits and single
//! underscores, starting with a letter) is `invalid-name`; a name the
//! component does not declare is `undefined`. `wasi:config` answers
//! `none` for an undeclared key and lists the component's variables in
//! `get-all`.

use wasmtime::component::Linker;

use crate::{HasSpin, SpinCtxView, SpinView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world variables {
                import fermyon:spin/variables@2.0.0;
                import wasi:config/store@0.2.0-draft-2024-09-27;
            }
        ",
        additional_derives: [PartialEq],
    });
}

use bindings::fermyon::spin::variables::{self, Error};
use bindings::wasi::config::store;

/// Spin's rule for variable names.
pub fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

impl SpinCtxView<'_> {
    fn variable(&self, name: &str) -> Result<String, Error> {
        if !is_valid_name(name) {
            return Err(Error::InvalidName(format!(
                "{name:?}: a variable name is lower-case letters, digits and single underscores, starting with a letter"
            )));
        }
        self.ctx
            .services
            .variables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Undefined(format!("no variable for {name:?}")))
    }
}

impl variables::Host for SpinCtxView<'_> {
    fn get(&mut self, name: String) -> Result<String, Error> {
        self.variable(&name)
    }
}

impl store::Host for SpinCtxView<'_> {
    fn get(&mut self, key: String) -> Result<Option<String>, store::Error> {
        // As Spin: a name that cannot be a variable is simply absent.
        Ok(self.variable(&key).ok())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, store::Error> {
        Ok(self
            .ctx
            .services
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    store::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::component::ResourceTable;

    use super::*;
    use crate::{ComponentServices, SpinCtx};

    #[test]
    fn declared_undeclared_and_invalid_names() {
        let mut services = ComponentServices::named("t");
        services
            .variables
            .insert("signing_key".to_owned(), "k1".to_owned());
        let mut ctx = SpinCtx::new(Arc::new(services));
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        assert_eq!(
            variables::Host::get(&mut view, "signing_key".into()),
            Ok("k1".to_owned())
        );
        assert!(matches!(
            variables::Host::get(&mut view, "other".into()),
            Err(Error::Undefined(_))
        ));
        for bad in [
            "invalid-name",
            "invalid!name",
            "4invalid",
            "Upper",
            "a__b",
            "a_",
        ] {
            assert!(
                matches!(
                    variables::Host::get(&mut view, bad.into()),
                    Err(Error::InvalidName(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            store::Host::get(&mut view, "signing_key".into()),
            Ok(Some("k1".to_owned()))
        );
        assert_eq!(store::Host::get(&mut view, "other".into()), Ok(None));
        assert_eq!(store::Host::get(&mut view, "Not-A-Name".into()), Ok(None));
        assert_eq!(
            store::Host::get_all(&mut view),
            Ok(vec![("signing_key".to_owned(), "k1".to_owned())])
        );
    }
}
