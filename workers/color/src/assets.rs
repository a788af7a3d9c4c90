//! Where LUTs and camera profiles come from: uploaded with the request, or
//! named and read from an asset directory.
//!
//! A component has no filesystem unless its runtime grants one, so the
//! directory is optional: `COLOR_ASSETS_DIR` names it (Spin: `files` in
//! spin.toml plus that environment variable; `wasmtime serve`: `--dir
//! HOST::GUEST --env COLOR_ASSETS_DIR=GUEST`; natively: any path). Inside,
//! `luts/<name>.cube` and `profiles/<name>.json`. Uploads always work: a
//! JSON body carries the `.cube` text and the profile JSON next to the
//! image, and the typed interface takes them as arguments.
//!
//! Fitted profiles are stored in a [`ProfileStore`]: `profiles/` under the
//! writable directory named by `STUDIO_EDGE_STATE_DIR` (`studio-edge up`
//! mounts `<data-dir>/state/<component>/` there; `wasmtime serve`: `--dir
//! ./state::/state --env STUDIO_EDGE_STATE_DIR=/state`). Spin grants no
//! writable directory, so there fitted profiles are only returned.

use std::path::{Path, PathBuf};

use crate::error::ColorError;
use crate::lut::Lut3d;
use crate::ops::ColorOps;
use crate::profile::CameraProfile;

/// The environment variable naming the asset directory.
pub const ASSETS_DIR_VAR: &str = "COLOR_ASSETS_DIR";

/// A directory of named LUTs and profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDir {
    root: PathBuf,
}

/// The largest asset file read (a 256-point LUT is about 400 MB of text,
/// far beyond what an edge request should load; 65 points is ~7 MB).
const MAX_ASSET_BYTES: u64 = 64 << 20;

impl AssetDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory named by `COLOR_ASSETS_DIR`, if set and non-empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(ASSETS_DIR_VAR)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Self::new)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The text of `<root>/<folder>/<name>.<extension>`; names were
    /// validated (no separators, no dots), so the path stays inside.
    fn read(&self, folder: &str, name: &str, extension: &str) -> Result<String, String> {
        let path = self.root.join(folder).join(format!("{name}.{extension}"));
        let metadata = std::fs::metadata(&path)
            .map_err(|_| format!("no {folder}/{name}.{extension} in the asset directory"))?;
        if metadata.len() > MAX_ASSET_BYTES {
            return Err(format!(
                "{folder}/{name}.{extension} is larger than {MAX_ASSET_BYTES} bytes"
            ));
        }
        std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {folder}/{name}.{extension}: {e}"))
    }

    pub fn lut(&self, name: &str) -> Result<Lut3d, ColorError> {
        let text = self
            .read("luts", name, "cube")
            .map_err(|why| ColorError::UnknownLut {
                name: name.to_owned(),
                why,
            })?;
        Ok(Lut3d::parse_cube(&text)?)
    }
}

/// The environment variable naming the component's writable state directory.
pub const STATE_DIR_VAR: &str = "STUDIO_EDGE_STATE_DIR";

/// Where fitted profiles are kept: `<state>/profiles/<name>.json`, written
/// whole (a temporary file renamed into place), so a reader never sees half
/// a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileStore {
    root: PathBuf,
}

impl ProfileStore {
    /// The store in the state directory `state`.
    pub fn new(state: impl AsRef<Path>) -> Self {
        Self {
            root: state.as_ref().join("profiles"),
        }
    }

    /// The store under `STUDIO_EDGE_STATE_DIR`, if that names a directory
    /// the component can see.
    pub fn from_env() -> Option<Self> {
        std::env::var(STATE_DIR_VAR)
            .ok()
            .filter(|v| !v.is_empty() && Path::new(v).is_dir())
            .map(Self::new)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.json"))
    }

    /// Stores `json` as profile `name` (a validated name); an existing one
    /// is replaced only when `replace` is set.
    pub fn save(&self, name: &str, json: &str, replace: bool) -> Result<(), ColorError> {
        let failed = |e: std::io::Error| ColorError::Store(format!("storing profile {name}: {e}"));
        std::fs::create_dir_all(&self.root).map_err(failed)?;
        let path = self.path(name);
        if !replace && path.exists() {
            return Err(ColorError::ProfileExists(name.to_owned()));
        }
        let temporary = self.root.join(format!(".{name}.json.tmp"));
        std::fs::write(&temporary, json).map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(failed)
    }

    /// The stored JSON of profile `name`, if there is one.
    pub fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path(name)).ok()
    }

    /// Removes profile `name`; false when there was none.
    pub fn delete(&self, name: &str) -> Result<bool, ColorError> {
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ColorError::Store(format!("deleting profile {name}: {e}"))),
        }
    }

    /// The names of the stored profiles, sorted.
    pub fn names(&self) -> Vec<String> {
        json_names(&self.root)
    }
}

/// The `<name>.json` files of `dir` (names only, sorted; none when `dir`
/// cannot be read).
fn json_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            crate::ops::asset_name(stem, "profile").ok()
        })
        .collect();
    names.sort();
    names
}

/// Where named profiles are looked up: the store first, then the asset
/// directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    pub store: Option<&'a ProfileStore>,
    pub dir: Option<&'a AssetDir>,
}

impl Sources<'_> {
    /// The JSON of profile `name`, and whether it came from the store.
    pub fn profile_json(&self, name: &str) -> Result<(String, bool), ColorError> {
        if let Some(json) = self.store.and_then(|store| store.read(name)) {
            return Ok((json, true));
        }
        let from_dir = match self.dir {
            Some(dir) => dir.read("profiles", name, "json"),
            None => Err(NO_DIRECTORY.to_owned()),
        };
        from_dir
            .map(|json| (json, false))
            .map_err(|why| ColorError::UnknownProfile {
                name: name.to_owned(),
                why: match self.store {
                    Some(_) => format!("not in the profile store, and {why}"),
                    None => why,
                },
            })
    }

    /// The profile names each source holds: (stored, in the asset directory).
    pub fn profile_names(&self) -> (Vec<String>, Vec<String>) {
        (
            self.store.map(ProfileStore::names).unwrap_or_default(),
            self.dir
                .map(|dir| json_names(&dir.root.join("profiles")))
                .unwrap_or_default(),
        )
    }
}

/// LUT and profile contents that came with the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploads<'a> {
    /// `.cube` text.
    pub cube: Option<&'a str>,
    /// Profile JSON.
    pub profile: Option<&'a str>,
}

/// The LUT and profile a request uses, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assets {
    pub lut: Option<Lut3d>,
    pub profile: Option<CameraProfile>,
}

const NO_DIRECTORY: &str =
    "no asset directory is configured (COLOR_ASSETS_DIR); upload it with the request instead";

impl Assets {
    /// Resolves what `ops` names: an upload is used when present (a name
    /// given with it is only a label), otherwise a LUT name is looked up in
    /// the asset directory and a profile name in the store, then there.
    pub fn resolve(
        ops: &ColorOps,
        uploads: Uploads<'_>,
        sources: Sources<'_>,
    ) -> Result<Self, ColorError> {
        let dir = sources.dir;
        let lut = match (uploads.cube, &ops.lut) {
            (Some(text), _) => Some(Lut3d::parse_cube(text)?),
            (None, Some(name)) => Some(
                dir.ok_or_else(|| ColorError::UnknownLut {
                    name: name.clone(),
                    why: NO_DIRECTORY.to_owned(),
                })?
                .lut(name)?,
            ),
            (None, None) => None,
        };
        let profile = match (uploads.profile, &ops.profile) {
            (Some(text), _) => Some(CameraProfile::from_json(text)?),
            (None, Some(name)) => Some(CameraProfile::from_json(&sources.profile_json(name)?.0)?),
            (None, None) => None,
        };
        Ok(Self { lut, profile })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> AssetDir {
        AssetDir::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"))
    }

    fn in_dir(dir: &AssetDir) -> Sources<'_> {
        Sources {
            store: None,
            dir: Some(dir),
        }
    }

    #[test]
    fn named_luts_come_from_the_directory_and_uploads_win() {
        let ops = ColorOps::parse("lut=warm-17").unwrap();
        let assets = Assets::resolve(&ops, Uploads::default(), in_dir(&fixtures())).unwrap();
        assert_eq!(assets.lut.unwrap().size(), 17);
        let identity = "LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n";
        let uploads = Uploads {
            cube: Some(identity),
            profile: None,
        };
        let assets = Assets::resolve(&ops, uploads, in_dir(&fixtures())).unwrap();
        assert_eq!(assets.lut.unwrap().size(), 2);
    }

    #[test]
    fn unknown_names_and_missing_directory_are_400() {
        let ops = ColorOps::parse("lut=nope&profile=nope").unwrap();
        let error = Assets::resolve(&ops, Uploads::default(), in_dir(&fixtures())).unwrap_err();
        assert!(matches!(&error, ColorError::UnknownLut { name, .. } if name == "nope"));
        assert_eq!(error.status(), 400);
        let ops = ColorOps::parse("profile=studio").unwrap();
        let error = Assets::resolve(&ops, Uploads::default(), Sources::default()).unwrap_err();
        assert_eq!(error.slug(), "unknown-profile");
        assert!(error.to_string().contains("COLOR_ASSETS_DIR"));
    }
}
