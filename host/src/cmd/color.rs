//! `studio-edge color IN OUT [OPS...]`: colour-correct a file with the colour
//! component in-process (the same `.wasm` the HTTP route serves), or with
//! the same Rust code natively (`--native`).
//!
//! OPS are the route's query fields, one per argument: `wb=auto ev=skin
//! lut=warm interp=trilinear profile=studio-a format=jpeg q=90`. Named LUTs
//! and profiles are read here and handed to the worker: profiles from the
//! store `studio-edge up` keeps for the colour component
//! (`<data-dir>/state/color/profiles/`, where `POST /v1/color/profiles`
//! puts fitted ones), then from `--assets DIR` (`luts/<name>.cube`,
//! `profiles/<name>.json`); `--lut FILE` and `--profile FILE` pass files
//! directly.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use studio_edge_color::assets::ProfileStore;

use crate::runtime::{GuestConfig, Runtime};
use crate::typed::color::{Assets, ColorComponent, WorkerError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source image.
    input: PathBuf,
    /// Where to write the corrected image.
    output: PathBuf,
    /// Operations as `key=value` query fields (see the colour crate docs).
    ops: Vec<String>,
    /// A `.cube` file to apply (wins over `lut=`).
    #[arg(long, value_name = "FILE")]
    lut: Option<PathBuf>,
    /// A camera profile JSON file to apply (wins over `profile=`).
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Directory of named assets: `luts/<name>.cube`, `profiles/<name>.json`.
    #[arg(long, value_name = "DIR", env = "COLOR_ASSETS_DIR")]
    assets: Option<PathBuf>,
    /// Run the Rust code natively instead of the component.
    #[arg(long)]
    native: bool,
    /// The colour component.
    #[arg(
        long,
        value_name = "WASM",
        default_value = "target/wasm32-wasip2/release/studio_edge_color.wasm"
    )]
    component: PathBuf,
    /// Directory for the compile cache and of the stored profiles
    /// (`state/color/profiles/`, as `studio-edge up` keeps them).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    sandbox: super::SandboxArgs,
}

impl Args {
    /// The operations as one query string (`wb=auto&ev=skin`).
    fn query(&self) -> anyhow::Result<String> {
        for op in &self.ops {
            if !op.contains('=') || op.contains('&') {
                anyhow::bail!("operation {op:?} is not one key=value field (e.g. wb=auto)");
            }
        }
        Ok(self.ops.join("&"))
    }

    /// Where `studio-edge up --data-dir` stores the colour component's
    /// fitted profiles.
    fn store(&self) -> ProfileStore {
        ProfileStore::new(crate::manifest::state_dir(&self.data_dir, "color"))
    }

    /// The LUT and profile contents to pass: the files given, else the
    /// named ones from the profile store and the asset directory.
    fn assets(&self, lut_name: Option<&str>, profile_name: Option<&str>) -> anyhow::Result<Assets> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let named =
            |folder: &str, name: Option<&str>, extension: &str| -> anyhow::Result<Option<String>> {
                match (name, &self.assets) {
                    (Some(name), Some(dir)) => {
                        let path = dir.join(folder).join(format!("{name}.{extension}"));
                        if path.is_file() {
                            read(path).map(Some)
                        } else {
                            Ok(None)
                        }
                    }
                    _ => Ok(None),
                }
            };
        Ok(Assets {
            lut_cube: match &self.lut {
                Some(path) => Some(read(path.clone())?),
                None => named("luts", lut_name, "cube")?,
            },
            profile_json: match &self.profile {
                Some(path) => Some(read(path.clone())?),
                None => match profile_name.and_then(|name| self.store().read(name)) {
                    Some(json) => Some(json),
                    None => named("profiles", profile_name, "json")?,
                },
            },
        })
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let query = args.query()?;
    let source =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let started = Instant::now();
    let (bytes, summary) = if args.native {
        correct_native(&args, &query, &source)?
    } else {
        correct_in_component(&args, &query, &source).await?
    };
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: {} bytes ({summary}; options {query:?}; {} ms{})",
        args.output.display(),
        bytes.len(),
        started.elapsed().as_millis(),
        if args.native {
            ", native"
        } else {
            " including component load"
        },
    );
    Ok(())
}

fn correct_native(args: &Args, query: &str, source: &[u8]) -> anyhow::Result<(Vec<u8>, String)> {
    use studio_edge_color::{assets, ops::ColorOps, pipeline};
    let ops = ColorOps::parse(query)?;
    let uploaded = args.assets(None, None)?;
    let uploads = assets::Uploads {
        cube: uploaded.lut_cube.as_deref(),
        profile: uploaded.profile_json.as_deref(),
    };
    let dir = args.assets.as_ref().map(assets::AssetDir::new);
    let store = args.store();
    let sources = assets::Sources {
        store: Some(&store),
        dir: dir.as_ref(),
    };
    let resolved = assets::Assets::resolve(&ops, uploads, sources)?;
    let corrected = pipeline::correct(source, &ops, &resolved, &Default::default())?;
    Ok((
        corrected.bytes,
        format!("{:?}, {:?}", corrected.format, corrected.applied),
    ))
}

async fn correct_in_component(
    args: &Args,
    query: &str,
    source: &[u8],
) -> anyhow::Result<(Vec<u8>, String)> {
    let runtime = Runtime::new(args.sandbox.runtime_config(&args.data_dir))?;
    let worker = ColorComponent::load(&runtime, &args.component, GuestConfig::named("color"))
        .with_context(|| {
            format!(
                "loading {} (build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-color)",
                args.component.display()
            )
        })?;
    let ops = worker.parse_options(query).await?.map_err(worker_error)?;
    let assets = args.assets(ops.lut.as_deref(), ops.profile.as_deref())?;
    let corrected = worker
        .correct(source, &ops, &assets)
        .await?
        .map_err(worker_error)?;
    let summary = format!(
        "{:?}, gains {:?}, ev {:?}",
        corrected.image.format, corrected.gains, corrected.ev
    );
    Ok((corrected.image.bytes, summary))
}

fn worker_error(error: WorkerError) -> anyhow::Error {
    match error {
        WorkerError::BadOption(why) => anyhow::anyhow!("bad option: {why}"),
        WorkerError::TooLarge(why) => anyhow::anyhow!("too large: {why}"),
        WorkerError::UnsupportedFormat(why) => anyhow::anyhow!("unsupported format: {why}"),
        WorkerError::Unprocessable(why) => anyhow::anyhow!("unprocessable: {why}"),
        WorkerError::Internal(why) => anyhow::anyhow!("worker failed: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(argv: &[&str]) -> Args {
        let cli = crate::cmd::Cli::parse_from(argv);
        let crate::cmd::Command::Color(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        args
    }

    #[test]
    fn operations_become_a_query() {
        let args = parse(&[
            "studio-edge",
            "color",
            "in.jpg",
            "out.jpg",
            "wb=auto",
            "ev=+0.5",
            "--native",
        ]);
        assert!(args.native);
        assert_eq!(args.query().unwrap(), "wb=auto&ev=+0.5");
        let args = parse(&["studio-edge", "color", "in.jpg", "out.jpg", "auto"]);
        assert!(args.query().is_err());
    }

    #[test]
    fn named_assets_are_read_from_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("luts")).unwrap();
        std::fs::write(dir.path().join("luts/warm.cube"), "LUT_3D_SIZE 2\n").unwrap();
        let assets_dir = dir.path().to_str().unwrap();
        let args = parse(&[
            "studio-edge",
            "color",
            "a",
            "b",
            "lut=warm",
            "--assets",
            assets_dir,
        ]);
        let assets = args.assets(Some("warm"), Some("missing")).unwrap();
        assert_eq!(assets.lut_cube.as_deref(), Some("LUT_3D_SIZE 2\n"));
        assert_eq!(assets.profile_json, None);
        // Stored profiles (the data directory's state) come first.
        let data = dir.path().join("data");
        let stored = data.join("state/color/profiles");
        std::fs::create_dir_all(&stored).unwrap();
        std::fs::write(stored.join("studio.json"), "{}").unwrap();
        let args = parse(&[
            "studio-edge",
            "color",
            "a",
            "b",
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        let assets = args.assets(None, Some("studio")).unwrap();
        assert_eq!(assets.profile_json.as_deref(), Some("{}"));
    }
}
