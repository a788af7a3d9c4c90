//! Spin's runtime configuration file (`spin up --runtime-config-file`), for
//! the parts this host provides, and the stores and databases an app's
//! components share.
//!
//! ```toml
//! [key_value_store.default]        # replaces the SQLite default
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [key_value_store.carts]          # another label, in a SQLite file
//! type = "spin"
//! path = "carts.db"                # relative to this file
//!
//! [sqlite_database.default]
//! type = "spin"
//! path = "data/app.db"
//!
//! [[variables_provider]]           # variables from the environment
//! type = "env"
//! prefix = "MYAPP"                 # MYAPP_<NAME>; the default is SPIN_VARIABLE
//! ```
//!
//! Without a file (or for labels it does not name), `default` is a SQLite
//! file in the state directory for both stores and databases, as in Spin,
//! and any other label is an error at startup. Sections and store types
//! this host does not provide (`llm_compute`, `vault`, `azure_cosmos`, ...)
//! are refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::key_value::{self, Store};
use crate::sqlite::{self, Database};

/// Why the runtime configuration, a store or a database is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> RuntimeConfigError {
    RuntimeConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A parsed runtime configuration file.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    key_value_stores: BTreeMap<String, StoreConfig>,
    sqlite_databases: BTreeMap<String, StoreConfig>,
    /// Environment prefixes of the `env` variables providers, in order.
    pub env_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, toml::Table>,
    #[serde(default)]
    variables_provider: Vec<toml::Table>,
}

#[derive(Debug, Clone)]
enum StoreConfig {
    /// `type = "spin"`: a SQLite file.
    File(PathBuf),
    /// `type = "redis"`.
    Redis(String),
}

impl RuntimeConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::parse(&text, &base_dir).map_err(|error| match error {
            RuntimeConfigError::Syntax { message, .. } => RuntimeConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, RuntimeConfigError> {
        let raw: RawRuntimeConfig =
            toml::from_str(text).map_err(|e| RuntimeConfigError::Syntax {
                path: PathBuf::from("runtime-config.toml"),
                message: e.message().to_owned(),
            })?;
        let stores = |section: &str, tables: BTreeMap<String, toml::Table>, redis: bool| {
            tables
                .into_iter()
                .map(|(label, table)| {
                    let key = format!("{section}.{label}");
                    store_config(&key, &table, base_dir, redis).map(|config| (label, config))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        let key_value_stores = stores("key_value_store", raw.key_value_store, true)?;
        let sqlite_databases = stores("sqlite_database", raw.sqlite_database, false)?;
        let mut env_prefixes = Vec::new();
        for (index, provider) in raw.variables_provider.iter().enumerate() {
            let key = format!("variables_provider[{index}]");
            match provider.get("type").and_then(toml::Value::as_str) {
                Some("env") => {}
                Some(other) => {
                    return Err(invalid(
                        format!("{key}.type"),
                        format!(
                            "the {other:?} variables provider is not provided by studio-edge (only \"env\")"
                        ),
                    ));
                }
                None => return Err(invalid(format!("{key}.type"), "missing")),
            }
            if let Some(unknown) = provider
                .keys()
                .find(|k| !["type", "prefix"].contains(&k.as_str()))
            {
                return Err(invalid(format!("{key}.{unknown}"), "not supported"));
            }
            let prefix = provider
                .get("prefix")
                .map(|p| {
                    p.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(format!("{key}.prefix"), "must be a string"))
                })
                .transpose()?
                .unwrap_or_else(|| "SPIN_VARIABLE".to_owned());
            env_prefixes.push(prefix);
        }
        Ok(Self {
            key_value_stores,
            sqlite_databases,
            env_prefixes,
        })
    }
}

fn store_config(
    key: &str,
    table: &toml::Table,
    base_dir: &Path,
    redis_allowed: bool,
) -> Result<StoreConfig, RuntimeConfigError> {
    let field = |name: &str| {
        table
            .get(name)
            .map(|value| {
                value
                    .as_str()
                    .ok_or_else(|| invalid(format!("{key}.{name}"), "must be a string"))
            })
            .transpose()
    };
    let allowed_keys: &[&str] = match field("type")? {
        Some("spin") => &["type", "path"],
        Some("redis") if redis_allowed => &["type", "url"],
        Some(other) => {
            return Err(invalid(
                format!("{key}.type"),
                format!(
                    "the {other:?} type is not provided by studio-edge (\"spin\"{})",
                    if redis_allowed { " or \"redis\"" } else { "" }
                ),
            ));
        }
        None => return Err(invalid(format!("{key}.type"), "missing")),
    };
    if let Some(unknown) = table.keys().find(|k| !allowed_keys.contains(&k.as_str())) {
        return Err(invalid(
            format!("{key}.{unknown}"),
            "not supported for this type",
        ));
    }
    if let Some(url) = field("url")? {
        return Ok(StoreConfig::Redis(url.to_owned()));
    }
    let path = field("path")?.ok_or_else(|| invalid(format!("{key}.path"), "missing"))?;
    Ok(StoreConfig::File(base_dir.join(path)))
}

/// The key-value stores and SQLite databases of an app, opened once and
/// shared by the components that list them.
#[derive(Default)]
pub struct AppStores {
    key_value: BTreeMap<String, Arc<Store>>,
    sqlite: BTreeMap<String, Arc<Database>>,
}

impl AppStores {
    /// Opens every label any component lists: `key_value` and `sqlite`
    /// map each label to the manifest key that asks for it (for errors).
    pub fn open(
        config: &RuntimeConfig,
        state_dir: &Path,
        key_value: &BTreeMap<String, String>,
        sqlite: &BTreeMap<String, String>,
    ) -> Result<Self, RuntimeConfigError> {
        let mut stores = Self::default();
        for (label, asked_by) in key_value {
            let store = match (config.key_value_stores.get(label), label.as_str()) {
                (Some(StoreConfig::Redis(url)), _) => Store::redis(label, url),
                (Some(StoreConfig::File(path)), _) => Store::sqlite(label, path),
                (None, "default") => {
                    Store::sqlite(label, &key_value::default_store_path(state_dir))
                }
                (None, _) => {
                    return Err(invalid(
                        asked_by.clone(),
                        format!("no key-value store {label:?}: define [key_value_store.{label}] in the runtime config file"),
                    ));
                }
            }
            .map_err(|e| invalid(asked_by.clone(), format!("opening store {label:?}: {e}")))?;
            stores.key_value.insert(label.clone(), Arc::new(store));
        }
        for (label, asked_by) in sqlite {
            let path = match (config.sqlite_databases.get(label), label.as_str()) {
                (Some(StoreConfig::File(path)), _) => path.clone(),
                (None, "default") => sqlite::default_database_path(state_dir),
                (Some(StoreConfig::Redis(_)), _) => unreachable!("refused when parsed"),
                (None, _) => {
                    return Err(invalid(
                        asked_by.clone(),
                        format!(
                            "no SQLite database {label:?}: define [sqlite_database.{label}] in the runtime config file"
                        ),
                    ));
                }
            };
            let database = Database::open(&path).map_err(|e| {
                invalid(
                    asked_by.clone(),
                    format!("opening database {label:?} at {}: {e}", path.display()),
                )
            })?;
            stores.sqlite.insert(label.clone(), Arc::new(database));
        }
        Ok(stores)
    }

    pub fn key_value(&self, label: &str) -> Option<Arc<Store>> {
        self.key_value.get(label).cloned()
    }

    pub fn sqlite(&self, label: &str) -> Option<Arc<Database>> {
        self.sqlite.get(label).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_databases_and_providers() {
        let config = RuntimeConfig::parse(
            r#"
            [key_value_store.default]
            type = "redis"
            url = "redis://127.0.0.1:6379"
            [key_value_store.carts]
            type = "spin"
            path = "carts.db"
            [sqlite_database.default]
            type = "spin"
            path = "app.db"
            [[variables_provider]]
            type = "env"
            prefix = "MYAPP"
            "#,
            Path::new("/etc/app"),
        )
        .unwrap();
        assert!(matches!(
            &config.key_value_stores["carts"],
            StoreConfig::File(path) if path == Path::new("/etc/app/carts.db")
        ));
        assert!(matches!(
            &config.key_value_stores["default"],
            StoreConfig::Redis(_)
        ));
        assert_eq!(config.env_prefixes, ["MYAPP"]);
    }

    #[test]
    fn what_is_not_provided_is_refused_by_name() {
        for (text, key) in [
            (
                "[key_value_store.x]\ntype = \"azure_cosmos\"",
                "key_value_store.x.type",
            ),
            (
                "[sqlite_database.x]\ntype = \"redis\"\nurl = \"redis://a\"",
                "sqlite_database.x.type",
            ),
            (
                "[sqlite_database.x]\ntype = \"spin\"",
                "sqlite_database.x.path",
            ),
            (
                "[[variables_provider]]\ntype = \"vault\"",
                "variables_provider[0].type",
            ),
            (
                "[key_value_store.x]\ntype = \"spin\"\npath = \"a\"\nurl = \"b\"",
                "key_value_store.x.url",
            ),
        ] {
            let message = RuntimeConfig::parse(text, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(message.contains(key), "{text}: {message}");
        }
        let message = RuntimeConfig::parse("[llm_compute]\ntype = \"spin\"", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(message.contains("llm_compute"), "{message}");
    }

    #[test]
    fn default_labels_live_in_the_state_directory_and_others_need_config() {
        let dir = tempfile::tempdir().unwrap();
        let asked = |label: &str| {
            BTreeMap::from([(label.to_owned(), "component.a.key_value_stores".to_owned())])
        };
        let stores = AppStores::open(
            &RuntimeConfig::default(),
            dir.path(),
            &asked("default"),
            &asked("default"),
        )
        .unwrap();
        assert!(stores.key_value("default").is_some());
        assert!(stores.sqlite("default").is_some());
        assert!(dir.path().join("sqlite_key_value.db").is_file());
        assert!(dir.path().join("sqlite_db.db").is_file());
        let message = AppStores::open(
            &RuntimeConfig::default(),
            dir.path(),
            &asked("carts"),
            &BTreeMap::new(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            message.contains("component.a.key_value_stores"),
            "{message}"
        );
        assert!(message.contains("[key_value_store.carts]"), "{message}");
    }
}
