//! The Spin application manifest (`spin.toml`, manifest version 2), read the
//! way `spin up` reads it, so the same file deploys to Spin and runs here.
//!
//! [`Manifest::load`] parses and validates the file; [`Manifest::resolve`]
//! turns it into an [`App`]: the route table, and per component its source
//! path, its variables (`[component.x.variables]` templates rendered with
//! the app's `[variables]`, whose values come from the caller's sources,
//! then the defaults), its `environment` table, its outbound-host allow
//! list and the key-value stores and SQLite databases it lists. Variables
//! reach a component only through Spin's variables interface, never as
//! environment variables, as under Spin.
//!
//! ```
//! use studio_edge::manifest::Manifest;
//!
//! let manifest = Manifest::parse(
//!     r#"
//!     spin_manifest_version = 2
//!     [application]
//!     name = "demo"
//!     [variables]
//!     greeting = { default = "hello" }
//!     [[trigger.http]]
//!     route = "/hi/..."
//!     component = "hi"
//!     [component.hi]
//!     source = "hi.wasm"
//!     [component.hi.variables]
//!     message = "{{ greeting }}, world"
//!     "#,
//!     "/apps/demo".as_ref(),
//! )?;
//! let app = manifest.resolve(|_| None)?;
//! assert_eq!(app.components["hi"].variables["message"], "hello, world");
//! let app = manifest.resolve(|name| (name == "greeting").then(|| "hi".to_owned()))?;
//! assert_eq!(app.components["hi"].variables["message"], "hi, world");
//! assert_eq!(app.router.route("/hi/there").unwrap().component, "hi");
//! # Ok::<(), studio_edge::manifest::ManifestError>(())
//! ```
//!
//! `files` entries of the form `{ source = "dir", destination = "/path" }`
//! mount a host directory read-only at `/path` in every instance, as Spin
//! does; glob-pattern entries are refused. Spin has no writable mounts; this
//! host gives a component that sets `STUDIO_EDGE_STATE_DIR = "/guest/path"`
//! in its `environment` a writable directory there,
//! `<data-dir>/state/<component>/` ([`App::mount_state`]). Other Spin features this host
//! does not provide (`exclude_files`, AI models, component dependencies,
//! the Wagi executor, private routes, a trigger `base` other than `/`) are
//! refused at startup by name rather than silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use studio_edge_spin::ComponentServices;
use studio_edge_spin::outbound::{AllowedHosts, OutboundPatternError};
use studio_edge_spin::runtime_config::{AppStores, RuntimeConfig, RuntimeConfigError};

use crate::routes::{RoutePattern, Router, RouterError};
use crate::runtime::{DirMount, GuestConfig};

/// Why a manifest cannot be used. Every message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("spin_manifest_version: expected 2, found {0}")]
    Version(i64),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error(
        "variables.{name}: required, but neither set nor given (--variable {name}=..., or SPIN_VARIABLE_{upper})"
    )]
    MissingVariable { name: String, upper: String },
    #[error(transparent)]
    Stores(#[from] RuntimeConfigError),
    #[error("{key}: {source}")]
    Route { key: String, source: RouterError },
    #[error("{key}: {source}")]
    Outbound {
        key: String,
        source: OutboundPatternError,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A parsed, validated `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub application: Application,
    pub variables: BTreeMap<String, Variable>,
    pub routes: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentSection>,
    /// The directory the manifest is in: component sources are relative to it.
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: i64,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: Triggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentSection>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// `[application.trigger.http]`: Spin accepts only `base = "/"`.
    #[serde(default)]
    trigger: Option<ApplicationTriggers>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationTriggers {
    #[serde(default)]
    http: Option<ApplicationHttp>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationHttp {
    #[serde(default)]
    base: Option<String>,
}

/// One entry of `[variables]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Secret values are never logged (no value is logged at all, but a
    /// secret also never appears in an error message).
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: toml::Value,
    pub component: toml::Value,
    #[serde(default)]
    pub executor: Option<toml::Table>,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSection {
    pub source: toml::Value,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// `spin build` settings: not used by the host.
    #[serde(default)]
    pub build: Option<toml::Table>,
    /// Directories mounted read-only into each instance.
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Spin features the host refuses by name (see the module docs).
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    dependencies: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
}

/// One `files` entry: a glob pattern (refused here) or a directory mount.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileEntry {
    Pattern(String),
    Mount(FileMount),
}

/// `{ source = "dir", destination = "/path" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMount {
    pub source: String,
    pub destination: String,
}

/// The resolved application: what the server needs to run it.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub router: Router,
    pub components: BTreeMap<String, AppComponent>,
}

/// One component, ready to load.
#[derive(Clone)]
pub struct AppComponent {
    pub id: String,
    /// Absolute (or manifest-relative joined) path of the `.wasm` file.
    pub source: PathBuf,
    /// The component's resolved variables (read through Spin's variables
    /// interface).
    pub variables: BTreeMap<String, String>,
    /// Environment variables for each instance: its `environment` table.
    pub env: Vec<(String, String)>,
    pub allowed_outbound_hosts: Arc<AllowedHosts>,
    /// The key-value stores and SQLite databases it lists.
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Host directories mounted read-only into each instance.
    pub dirs: Vec<DirMount>,
    /// Its variables, stores, databases and outbound policy, as its
    /// instances see them ([`App::open_stores`] adds the stores).
    pub services: Arc<ComponentServices>,
}

impl std::fmt::Debug for AppComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Variables may be secrets: only their names are shown.
        f.debug_struct("AppComponent")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("key_value_stores", &self.key_value_stores)
            .field("sqlite_databases", &self.sqlite_databases)
            .finish_non_exhaustive()
    }
}

impl AppComponent {
    /// What each instance of this component gets.
    pub fn guest_config(&self) -> GuestConfig {
        GuestConfig {
            name: self.id.as_str().into(),
            env: self.env.clone().into(),
            dirs: self.dirs.clone().into(),
            services: self.services.clone(),
        }
    }

    fn services_with(&self, stores: &AppStores) -> ComponentServices {
        ComponentServices {
            id: self.id.clone(),
            variables: self.variables.clone(),
            key_value: self
                .key_value_stores
                .iter()
                .filter_map(|label| Some((label.clone(), stores.key_value(label)?)))
                .collect(),
            sqlite: self
                .sqlite_databases
                .iter()
                .filter_map(|label| Some((label.clone(), stores.sqlite(label)?)))
                .collect(),
            outbound: self.allowed_outbound_hosts.clone(),
        }
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse(&text, base_dir).map_err(|e| match e {
            ManifestError::Syntax { message, .. } => ManifestError::Syntax {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates manifest text; `base_dir` is where component
    /// sources are looked up.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            path: "spin.toml".to_owned(),
            message: e.to_string(),
        })?;
        if raw.spin_manifest_version != 2 {
            return Err(ManifestError::Version(raw.spin_manifest_version));
        }
        let base = raw
            .application
            .trigger
            .as_ref()
            .and_then(|t| t.http.as_ref())
            .and_then(|h| h.base.as_deref());
        if base.is_some_and(|base| base != "/") {
            return Err(invalid(
                "application.trigger.http.base",
                "Spin no longer applies a base: prepend it to each [[trigger.http]] route",
            ));
        }
        let manifest = Manifest {
            application: raw.application,
            variables: raw.variables,
            routes: raw.trigger.http,
            components: raw.component,
            base_dir: base_dir.to_path_buf(),
        };
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        for (name, variable) in &self.variables {
            let key = format!("variables.{name}");
            check_variable_name(&key, name)?;
            if variable.required && variable.default.is_some() {
                return Err(invalid(
                    key,
                    "a variable cannot be both required and defaulted",
                ));
            }
        }
        for (id, component) in &self.components {
            self.validate_component(id, component)?;
        }
        for (index, trigger) in self.routes.iter().enumerate() {
            let key = format!("trigger.http[{index}]");
            let route = trigger_route(&key, trigger)?;
            let component = trigger_component(&key, trigger)?;
            if !self.components.contains_key(component) {
                return Err(invalid(
                    format!("{key}.component"),
                    format!("no [component.{component}] section"),
                ));
            }
            if let Some(executor) = &trigger.executor {
                let kind = executor.get("type").and_then(toml::Value::as_str);
                if kind != Some("spin") && kind != Some("http") {
                    return Err(invalid(
                        format!("{key}.executor"),
                        "only the default (spin / wasi:http) executor is supported",
                    ));
                }
            }
            RoutePattern::parse(route).map_err(|source| ManifestError::Route {
                key: format!("{key}.route"),
                source,
            })?;
        }
        Ok(())
    }

    fn validate_component(
        &self,
        id: &str,
        component: &ComponentSection,
    ) -> Result<(), ManifestError> {
        let key = format!("component.{id}");
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(invalid(
                key,
                "component ids use lower-case letters, digits, '-' and '_'",
            ));
        }
        if component.source.as_str().is_none() {
            return Err(invalid(
                format!("{key}.source"),
                "only a local file path is supported (not a URL or registry reference)",
            ));
        }
        let unsupported = [
            ("exclude_files", component.exclude_files.is_some()),
            ("ai_models", component.ai_models.is_some()),
            ("dependencies", component.dependencies.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, present)| *present) {
            return Err(invalid(
                format!("{key}.{name}"),
                "not provided by studio-edge; run this component under Spin",
            ));
        }
        for (index, entry) in component.files.iter().enumerate() {
            let file_key = format!("{key}.files[{index}]");
            match entry {
                FileEntry::Pattern(_) => {
                    return Err(invalid(
                        file_key,
                        "glob patterns are not provided by studio-edge; mount a directory with { source = \"dir\", destination = \"/path\" }",
                    ));
                }
                FileEntry::Mount(mount) if !mount.destination.starts_with('/') => {
                    return Err(invalid(
                        format!("{file_key}.destination"),
                        "must be an absolute path in the component, like \"/assets\"",
                    ));
                }
                FileEntry::Mount(_) => {}
            }
        }
        for (name, template) in &component.variables {
            let var_key = format!("{key}.variables.{name}");
            check_variable_name(&var_key, name)?;
            for reference in template_references(&var_key, template)? {
                if !self.variables.contains_key(reference) {
                    return Err(invalid(
                        var_key,
                        format!(
                            "refers to {{{{ {reference} }}}}, which [variables] does not declare"
                        ),
                    ));
                }
            }
        }
        for (index, host) in component.allowed_outbound_hosts.iter().enumerate() {
            let host_key = format!("{key}.allowed_outbound_hosts[{index}]");
            for reference in template_references(&host_key, host)? {
                if !self.variables.contains_key(reference) {
                    return Err(invalid(
                        host_key,
                        format!(
                            "refers to {{{{ {reference} }}}}, which [variables] does not declare"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Resolves variables (`lookup(name)` gives a value from the caller's
    /// sources, such as `--variable` and `SPIN_VARIABLE_<NAME>`, before the
    /// manifest default) and builds the [`App`].
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<App, ManifestError> {
        let mut values = BTreeMap::new();
        for (name, variable) in &self.variables {
            let upper = name.to_ascii_uppercase();
            let value = lookup(name).or_else(|| variable.default.clone());
            match value {
                Some(value) => {
                    values.insert(name.as_str(), value);
                }
                None if variable.required => {
                    return Err(ManifestError::MissingVariable {
                        name: name.clone(),
                        upper,
                    });
                }
                None => {}
            }
        }

        let mut components = BTreeMap::new();
        for (id, section) in &self.components {
            let key = format!("component.{id}");
            let mut variables = BTreeMap::new();
            for (name, template) in &section.variables {
                let value = render_template(&format!("{key}.variables.{name}"), template, &values)?;
                variables.insert(name.clone(), value);
            }
            let env: Vec<(String, String)> = section
                .environment
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let mut patterns = Vec::new();
            for (index, host) in section.allowed_outbound_hosts.iter().enumerate() {
                let host_key = format!("{key}.allowed_outbound_hosts[{index}]");
                patterns.push(render_template(&host_key, host, &values)?);
            }
            let allowed_outbound_hosts =
                Arc::new(AllowedHosts::parse(&patterns).map_err(|source| {
                    ManifestError::Outbound {
                        key: format!("{key}.allowed_outbound_hosts"),
                        source,
                    }
                })?);
            let source = section
                .source
                .as_str()
                .expect("validated: source is a string");
            let mut dirs = Vec::new();
            for (index, entry) in section.files.iter().enumerate() {
                let FileEntry::Mount(mount) = entry else {
                    unreachable!("validated: only mounts")
                };
                let host = self.base_dir.join(&mount.source);
                if !host.is_dir() {
                    return Err(invalid(
                        format!("{key}.files[{index}].source"),
                        format!("{} is not a directory", host.display()),
                    ));
                }
                dirs.push(DirMount {
                    host,
                    guest: mount.destination.clone(),
                    writable: false,
                });
            }
            let mut component = AppComponent {
                id: id.clone(),
                source: self.base_dir.join(source),
                variables,
                env,
                allowed_outbound_hosts,
                key_value_stores: section.key_value_stores.clone(),
                sqlite_databases: section.sqlite_databases.clone(),
                dirs,
                services: Arc::new(ComponentServices::named(id)),
            };
            component.services = Arc::new(component.services_with(&AppStores::default()));
            components.insert(id.clone(), component);
        }

        let mut router = Router::default();
        for (index, trigger) in self.routes.iter().enumerate() {
            let key = format!("trigger.http[{index}]");
            let route = trigger_route(&key, trigger)?;
            let component = trigger_component(&key, trigger)?;
            router
                .add(route, component)
                .map_err(|source| ManifestError::Route {
                    key: format!("{key}.route"),
                    source,
                })?;
        }

        Ok(App {
            name: self.application.name.clone(),
            router,
            components,
        })
    }
}

/// The environment variable by which a component asks for a writable state
/// directory, at the guest path it gives.
pub const STATE_DIR_VAR: &str = "STUDIO_EDGE_STATE_DIR";

/// The host directory holding component `id`'s state under `data_dir`.
pub fn state_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("state").join(id)
}

impl App {
    /// Opens the key-value stores and SQLite databases the components list
    /// (defaults in `state_dir`, others from the runtime configuration) and
    /// hands each component the ones it lists.
    pub fn open_stores(
        &mut self,
        config: &RuntimeConfig,
        state_dir: &Path,
    ) -> Result<(), ManifestError> {
        let mut key_value = BTreeMap::new();
        let mut sqlite = BTreeMap::new();
        for component in self.components.values() {
            for label in &component.key_value_stores {
                key_value
                    .entry(label.clone())
                    .or_insert_with(|| format!("component.{}.key_value_stores", component.id));
            }
            for label in &component.sqlite_databases {
                sqlite
                    .entry(label.clone())
                    .or_insert_with(|| format!("component.{}.sqlite_databases", component.id));
            }
        }
        let stores = AppStores::open(config, state_dir, &key_value, &sqlite)?;
        for component in self.components.values_mut() {
            component.services = Arc::new(component.services_with(&stores));
        }
        Ok(())
    }

    /// Mounts each component's state directory (`<data_dir>/state/<id>/`,
    /// created if missing) read-write at the guest path its
    /// `STUDIO_EDGE_STATE_DIR` names; components that do not ask get none.
    pub fn mount_state(&mut self, data_dir: &Path) -> Result<(), ManifestError> {
        for component in self.components.values_mut() {
            let Some((_, guest)) = component.env.iter().find(|(k, _)| k == STATE_DIR_VAR) else {
                continue;
            };
            let key = format!("component.{}.environment.{STATE_DIR_VAR}", component.id);
            if !guest.starts_with('/') {
                return Err(invalid(
                    key,
                    format!("{guest:?} is not an absolute guest path"),
                ));
            }
            let host = state_dir(data_dir, &component.id);
            std::fs::create_dir_all(&host)
                .map_err(|e| invalid(key, format!("creating {}: {e}", host.display())))?;
            component.dirs.push(DirMount {
                host,
                guest: guest.clone(),
                writable: true,
            });
        }
        Ok(())
    }
}

fn trigger_route<'t>(key: &str, trigger: &'t HttpTrigger) -> Result<&'t str, ManifestError> {
    trigger.route.as_str().ok_or_else(|| {
        invalid(
            format!("{key}.route"),
            "only string routes are supported (not private routes)",
        )
    })
}

fn trigger_component<'t>(key: &str, trigger: &'t HttpTrigger) -> Result<&'t str, ManifestError> {
    trigger.component.as_str().ok_or_else(|| {
        invalid(
            format!("{key}.component"),
            "name a [component.<id>] section; inline components are not supported",
        )
    })
}

/// Spin's rule for variable names: a lower-case letter, then lower-case
/// letters, digits and single underscores.
fn check_variable_name(key: &str, name: &str) -> Result<(), ManifestError> {
    if studio_edge_spin::variables::is_valid_name(name) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "{name:?} is not a valid variable name (lower-case letters, digits, single underscores; starts with a letter)"
            ),
        ))
    }
}

/// One piece of a `{{ name }}` template.
enum Piece<'t> {
    Text(&'t str),
    Reference(&'t str),
}

fn template_pieces<'t>(key: &str, template: &'t str) -> Result<Vec<Piece<'t>>, ManifestError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| invalid(key, "unclosed '{{' in template"))?;
        let name = after[..end].trim();
        check_variable_name(key, name)?;
        pieces.push(Piece::Reference(name));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(invalid(key, "'}}' without a matching '{{' in template"));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn template_references<'t>(key: &str, template: &'t str) -> Result<Vec<&'t str>, ManifestError> {
    Ok(template_pieces(key, template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Reference(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}

fn render_template(
    key: &str,
    template: &str,
    values: &BTreeMap<&str, String>,
) -> Result<String, ManifestError> {
    let mut out = String::new();
    for piece in template_pieces(key, template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Reference(name) => match values.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    return Err(ManifestError::MissingVariable {
                        name: name.to_owned(),
                        upper: name.to_ascii_uppercase(),
                    });
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "t"
        [variables]
        key = { default = "k0" }
        salt = { required = true, secret = true }
        [[trigger.http]]
        route = "/v1/thumb/..."
        component = "thumb"
        [[trigger.http]]
        route = "/health"
        component = "thumb"
        [component.thumb]
        source = "target/thumb.wasm"
        allowed_outbound_hosts = ["https://*.example.com", "http://127.0.0.1:*"]
        environment = { RUST_LOG = "info" }
        [component.thumb.variables]
        signing_key = "{{ key }}"
        signing_salt = "pre-{{salt}}-post"
        [component.thumb.build]
        command = "cargo build"
    "#;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("/app"))
    }

    #[test]
    fn resolves_variables_defaults_and_overrides() {
        let manifest = parse(BASE).unwrap();
        let app = manifest.resolve(env(&[("salt", "s1")])).unwrap();
        let thumb = &app.components["thumb"];
        assert_eq!(thumb.source, Path::new("/app/target/thumb.wasm"));
        assert_eq!(thumb.variables["signing_key"], "k0");
        assert_eq!(thumb.variables["signing_salt"], "pre-s1-post");
        // Variables are not environment variables, as under Spin.
        assert_eq!(thumb.env, [("RUST_LOG".to_owned(), "info".to_owned())]);
        assert_eq!(thumb.services.variables, thumb.variables);
        let app = manifest
            .resolve(env(&[("salt", "s"), ("key", "k9")]))
            .unwrap();
        assert_eq!(app.components["thumb"].variables["signing_key"], "k9");
    }

    #[test]
    fn required_variable_without_value_is_named() {
        let err = parse(BASE).unwrap().resolve(env(&[])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("variables.salt"), "{message}");
        assert!(message.contains("salt"), "{message}");
    }

    #[test]
    fn routes_are_built() {
        let app = parse(BASE).unwrap().resolve(env(&[("salt", "s")])).unwrap();
        assert_eq!(
            app.router.route("/v1/thumb/a.jpg").unwrap().component,
            "thumb"
        );
        assert_eq!(app.router.route("/health").unwrap().component, "thumb");
        assert!(app.router.route("/health/x").is_none());
        assert!(app.components["thumb"].allowed_outbound_hosts.allows(
            "https",
            "img.example.com",
            443
        ));
    }

    #[test]
    fn listed_stores_and_databases_open_in_the_state_directory() {
        let data = tempfile::tempdir().unwrap();
        let text = BASE.replace(
            "environment = { RUST_LOG = \"info\" }",
            "environment = { RUST_LOG = \"info\" }\n        key_value_stores = [\"default\"]\n        sqlite_databases = [\"default\"]",
        );
        let mut app = parse(&text)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        assert!(app.components["thumb"].services.key_value.is_empty());
        app.open_stores(&RuntimeConfig::default(), data.path())
            .unwrap();
        let services = &app.components["thumb"].services;
        assert!(services.key_value.contains_key("default"));
        assert!(services.sqlite.contains_key("default"));
        assert!(data.path().join("sqlite_key_value.db").is_file());
        let other = text.replace(
            "key_value_stores = [\"default\"]",
            "key_value_stores = [\"carts\"]",
        );
        let mut app = parse(&other)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        let message = app
            .open_stores(&RuntimeConfig::default(), data.path())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("component.thumb.key_value_stores"),
            "{message}"
        );
    }

    #[test]
    fn wrong_version_is_refused() {
        let text = BASE.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(matches!(parse(&text), Err(ManifestError::Version(1))));
    }

    #[test]
    fn unknown_component_in_trigger_names_the_key() {
        let text = BASE.replace(
            "component = \"thumb\"\n        [[trigger",
            "component = \"nope\"\n        [[trigger",
        );
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("trigger.http[0].component"), "{message}");
        assert!(message.contains("nope"), "{message}");
    }

    #[test]
    fn undeclared_variable_reference_names_the_key() {
        let text = BASE.replace("{{ key }}", "{{ missing }}");
        let message = parse(&text).unwrap_err().to_string();
        assert!(
            message.contains("component.thumb.variables.signing_key"),
            "{message}"
        );
        assert!(message.contains("missing"), "{message}");
    }

    #[test]
    fn unsupported_features_are_refused_by_name() {
        let with = |extra: &str| {
            BASE.replace(
                "environment = { RUST_LOG = \"info\" }",
                &format!("environment = {{ RUST_LOG = \"info\" }}\n        {extra}"),
            )
        };
        let message = parse(&with("files = [\"static/**\"]"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("component.thumb.files[0]"), "{message}");
        assert!(message.contains("glob"), "{message}");
        let message = parse(&with("ai_models = [\"llama2-chat\"]"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("component.thumb.ai_models"), "{message}");
        let based = BASE.replace(
            "name = \"t\"",
            "name = \"t\"\n        trigger.http.base = \"/api\"",
        );
        let message = parse(&based).unwrap_err().to_string();
        assert!(
            message.contains("application.trigger.http.base"),
            "{message}"
        );
        assert!(parse(&based.replace("\"/api\"", "\"/\"")).is_ok());
        let message = parse(&with("files = [{ source = \"a\", destination = \"rel\" }]"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("component.thumb.files[0].destination"),
            "{message}"
        );
    }

    #[test]
    fn the_repository_manifest_serves_and_builds_every_worker() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let manifest = Manifest::load(&path).unwrap();
        let app = manifest.resolve(env(&[])).unwrap();
        for (id, package) in [
            ("thumbnail", "studio-edge-thumbnail"),
            ("color", "studio-edge-color"),
            ("moderation", "studio-edge-moderation"),
            ("cart", "studio-edge-cart"),
        ] {
            assert!(app.components.contains_key(id), "no component {id}");
            let build = manifest.components[id]
                .build
                .as_ref()
                .expect("a build section");
            let command = build["command"].as_str().expect("a build command");
            assert!(
                command.contains(&format!("-p {package}")),
                "{id}: {command}"
            );
            assert!(
                command.contains("--target wasm32-wasip2"),
                "{id}: {command}"
            );
        }
        assert!(
            app.components["color"].dirs[0]
                .host
                .ends_with("workers/color/assets")
        );
    }

    #[test]
    fn directory_mounts_resolve_against_the_manifest() {
        let dir = std::env::temp_dir().join(format!("studio-edge-mount-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        let text = BASE.replace(
            "environment = { RUST_LOG = \"info\" }",
            "environment = { RUST_LOG = \"info\" }\n        files = [{ source = \"assets\", destination = \"/assets\" }]",
        );
        let manifest = Manifest::parse(&text, &dir).unwrap();
        let app = manifest.resolve(env(&[("salt", "s")])).unwrap();
        assert_eq!(
            app.components["thumb"].dirs,
            [DirMount {
                host: dir.join("assets"),
                guest: "/assets".to_owned(),
                writable: false,
            }]
        );
        std::fs::remove_dir_all(dir.join("assets")).unwrap();
        let message = manifest
            .resolve(env(&[("salt", "s")]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("component.thumb.files[0].source"),
            "{message}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn components_that_ask_get_a_writable_state_directory() {
        let data = tempfile::tempdir().unwrap();
        let text = BASE.replace(
            "environment = { RUST_LOG = \"info\" }",
            "environment = { RUST_LOG = \"info\", STUDIO_EDGE_STATE_DIR = \"/state\" }",
        );
        let mut app = parse(&text)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        app.mount_state(data.path()).unwrap();
        let host = data.path().join("state/thumb");
        assert!(host.is_dir());
        assert_eq!(
            app.components["thumb"].dirs,
            [DirMount {
                host,
                guest: "/state".to_owned(),
                writable: true,
            }]
        );
        let relative = text.replace("\"/state\"", "\"state\"");
        let mut app = parse(&relative)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        let message = app.mount_state(data.path()).unwrap_err().to_string();
        assert!(message.contains("STUDIO_EDGE_STATE_DIR"), "{message}");
    }

    #[test]
    fn unknown_keys_are_syntax_errors() {
        let text = BASE.replace("source = ", "sourec = \"x\"\n        source = ");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("sourec"), "{message}");
    }

    #[test]
    fn a_route_declared_twice_is_served_by_the_last_declaration() {
        let text = BASE.replace("route = \"/health\"", "route = \"/v1/thumb/...\"");
        let app = parse(&text)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        assert_eq!(app.router.route("/v1/thumb/x").unwrap().component, "thumb");
        assert_eq!(app.router.routes().count(), 2);
    }

    #[test]
    fn bad_variable_names_and_templates() {
        assert!(parse(&BASE.replace("key = {", "Key = {")).is_err());
        assert!(parse(&BASE.replace("{{ key }}", "{{ key ")).is_err());
        let both = BASE.replace(
            "salt = { required = true",
            "salt = { default = \"x\", required = true",
        );
        let message = parse(&both).unwrap_err().to_string();
        assert!(message.contains("variables.salt"), "{message}");
    }

    #[test]
    fn outbound_templates_resolve() {
        let text = BASE
            .replace(
                "key = { default = \"k0\" }",
                "key = { default = \"k0\" }\n        origin = { default = \"https://img.test\" }",
            )
            .replace("\"https://*.example.com\",", "\"{{ origin }}\",");
        let app = parse(&text)
            .unwrap()
            .resolve(env(&[("salt", "s")]))
            .unwrap();
        let hosts = &app.components["thumb"].allowed_outbound_hosts;
        assert!(hosts.allows("https", "img.test", 443));
        assert!(!hosts.allows("https", "other.test", 443));
    }
}
