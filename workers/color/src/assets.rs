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

    pub fn profile(&self, name: &str) -> Result<CameraProfile, ColorError> {
        let text =
            self.read("profiles", name, "json")
                .map_err(|why| ColorError::UnknownProfile {
                    name: name.to_owned(),
                    why,
                })?;
        Ok(CameraProfile::from_json(&text)?)
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
    /// given with it is only a label), otherwise the name is looked up in
    /// `dir`.
    pub fn resolve(
        ops: &ColorOps,
        uploads: Uploads<'_>,
        dir: Option<&AssetDir>,
    ) -> Result<Self, ColorError> {
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
            (None, Some(name)) => Some(
                dir.ok_or_else(|| ColorError::UnknownProfile {
                    name: name.clone(),
                    why: NO_DIRECTORY.to_owned(),
                })?
                .profile(name)?,
            ),
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

    #[test]
    fn named_luts_come_from_the_directory_and_uploads_win() {
        let ops = ColorOps::parse("lut=warm-17").unwrap();
        let assets = Assets::resolve(&ops, Uploads::default(), Some(&fixtures())).unwrap();
        assert_eq!(assets.lut.unwrap().size(), 17);
        let identity = "LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n";
        let uploads = Uploads {
            cube: Some(identity),
            profile: None,
        };
        let assets = Assets::resolve(&ops, uploads, Some(&fixtures())).unwrap();
        assert_eq!(assets.lut.unwrap().size(), 2);
    }

    #[test]
    fn unknown_names_and_missing_directory_are_400() {
        let ops = ColorOps::parse("lut=nope&profile=nope").unwrap();
        let error = Assets::resolve(&ops, Uploads::default(), Some(&fixtures())).unwrap_err();
        assert!(matches!(&error, ColorError::UnknownLut { name, .. } if name == "nope"));
        assert_eq!(error.status(), 400);
        let ops = ColorOps::parse("profile=studio").unwrap();
        let error = Assets::resolve(&ops, Uploads::default(), None).unwrap_err();
        assert_eq!(error.slug(), "unknown-profile");
        assert!(error.to_string().contains("COLOR_ASSETS_DIR"));
    }
}
