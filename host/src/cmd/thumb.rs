//! `studio-edge thumb IN OUT`: one thumbnail of a file, made by the
//! thumbnail component in-process (the same `.wasm` the HTTP route serves),
//! or with `--native` by the same Rust code compiled for this machine.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::runtime::{GuestConfig, Runtime};
use crate::typed::thumbnail::{ThumbnailComponent, WorkerError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source image.
    input: PathBuf,
    /// Where to write the thumbnail.
    output: PathBuf,
    /// Width of the box, in CSS pixels.
    #[arg(long)]
    w: Option<u32>,
    /// Height of the box, in CSS pixels.
    #[arg(long)]
    h: Option<u32>,
    /// cover, contain, fill, scale-down or pad.
    #[arg(long)]
    fit: Option<String>,
    /// centre, north, ..., smart, or a focal point `fp:X,Y`.
    #[arg(long)]
    gravity: Option<String>,
    /// Device pixel ratio, 1 to 4.
    #[arg(long)]
    dpr: Option<f32>,
    /// jpeg, png, webp, gif, avif or auto.
    #[arg(long)]
    format: Option<String>,
    /// Encoder quality, 1 to 100.
    #[arg(long)]
    q: Option<u8>,
    /// Allow output larger than the source.
    #[arg(long)]
    enlarge: bool,
    /// Background for `pad` and transparent sources, e.g. `ffffff`.
    #[arg(long)]
    bg: Option<String>,
    /// Run the thumbnail code natively instead of the component (same
    /// crate, same options; the native build has no AVIF encoder).
    #[arg(long)]
    native: bool,
    /// The thumbnail component.
    #[arg(
        long,
        value_name = "WASM",
        default_value = "target/wasm32-wasip2/release/studio_edge_thumbnail.wasm"
    )]
    component: PathBuf,
    /// Directory for the compile cache.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    sandbox: super::SandboxArgs,
}

impl Args {
    /// The options as the URL query the worker parses (`w=320&fit=cover`).
    fn query(&self) -> String {
        let pairs: [(&str, Option<String>); 9] = [
            ("w", self.w.map(|v| v.to_string())),
            ("h", self.h.map(|v| v.to_string())),
            ("fit", self.fit.clone()),
            ("gravity", self.gravity.clone()),
            ("dpr", self.dpr.map(|v| v.to_string())),
            ("format", self.format.clone()),
            ("q", self.q.map(|v| v.to_string())),
            ("enlarge", self.enlarge.then(|| "1".to_owned())),
            ("bg", self.bg.clone()),
        ];
        pairs
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| format!("{key}={}", percent_encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Encodes everything but RFC 3986 unreserved characters (and `,` and `:`,
/// which the options use as separators).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let query = args.query();
    let source =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    if args.native {
        return run_native(&args, &query, &source);
    }
    let started = Instant::now();
    let runtime = Runtime::new(args.sandbox.runtime_config(&args.data_dir))?;
    let worker = ThumbnailComponent::load(&runtime, &args.component, GuestConfig::named("thumbnail"))
        .with_context(|| {
            format!(
                "loading {} (build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-thumbnail)",
                args.component.display()
            )
        })?;
    let loaded = started.elapsed();
    let spec = worker.parse_options(&query).await?.map_err(worker_error)?;
    let image = worker
        .transform(&source, &spec)
        .await?
        .map_err(worker_error)?;
    std::fs::write(&args.output, &image.bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: {:?}, {} bytes (options {query:?}; component ready in {} ms, thumbnail in {} ms)",
        args.output.display(),
        image.format,
        image.bytes.len(),
        loaded.as_millis(),
        (started.elapsed() - loaded).as_millis(),
    );
    Ok(())
}

fn run_native(args: &Args, query: &str, source: &[u8]) -> anyhow::Result<()> {
    let started = Instant::now();
    let spec = studio_edge_thumbnail::parse_options(query)?;
    let image =
        studio_edge_thumbnail::render(source, &spec, &studio_edge_thumbnail::Limits::default())?;
    std::fs::write(&args.output, &image.bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: {:?}, {}x{}, {} bytes (options {query:?}; native, {} ms)",
        args.output.display(),
        image.format,
        image.width,
        image.height,
        image.bytes.len(),
        started.elapsed().as_millis(),
    );
    Ok(())
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
    use clap::Parser;

    #[test]
    fn options_become_a_query() {
        let cli = crate::cmd::Cli::parse_from([
            "studio-edge",
            "thumb",
            "in.jpg",
            "out.jpg",
            "--w",
            "320",
            "--fit",
            "pad",
            "--bg",
            "#ffffff",
            "--enlarge",
            "--dpr",
            "2",
        ]);
        let crate::cmd::Command::Thumb(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        assert_eq!(args.query(), "w=320&fit=pad&dpr=2&enlarge=1&bg=%23ffffff");
    }

    #[test]
    fn no_options_is_an_empty_query() {
        let cli = crate::cmd::Cli::parse_from(["studio-edge", "thumb", "a", "b"]);
        let crate::cmd::Command::Thumb(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        assert_eq!(args.query(), "");
    }
}
