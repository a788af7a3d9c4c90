//! `studio-edge streams create NAME`: add a capture stream and print its
//! ingest key once (only its SHA-256 is stored, in
//! `<data-dir>/streams.json`); `studio-edge streams list`: the streams and
//! their settings, without keys.

use std::path::PathBuf;

use anyhow::Context;
use studio_edge_ingest::VariantSpec;
use studio_edge_ingest::streams::{STREAMS_FILE, StreamsFile, create_stream};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The data directory `studio-edge up` uses.
    #[arg(long, value_name = "DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a stream and print its ingest key (shown only this once).
    Create {
        /// Stream name: 1-64 of a-z, 0-9, '-', '_'.
        name: String,
        /// A rendition as NAME:OPTIONS or NAME:OPTIONS:crop=X,Y,W,H, e.g.
        /// `w320-webp:w=320&format=webp`; repeat for more [default: 160,
        /// 320 and 640 px wide in JPEG, WebP and JPEG].
        #[arg(long = "variant", value_name = "SPEC")]
        variants: Vec<VariantSpec>,
        /// Colour ops for every frame, e.g. `wb=auto&lut=warm`.
        #[arg(long, value_name = "OPS")]
        color: Option<String>,
        /// Frames kept per stream.
        #[arg(long, value_name = "N")]
        retention: Option<usize>,
        /// Fragments that may wait for the pipeline before 429.
        #[arg(long, value_name = "N")]
        queue_depth: Option<usize>,
    },
    /// List the streams and their settings.
    List,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Create {
            name,
            variants,
            color,
            retention,
            queue_depth,
        } => {
            let variants = (!variants.is_empty()).then_some(variants);
            let key = create_stream(&args.data_dir, &name, variants)
                .with_context(|| format!("creating stream {name:?}"))?;
            if color.is_some() || retention.is_some() || queue_depth.is_some() {
                let path = args.data_dir.join(STREAMS_FILE);
                let mut file = StreamsFile::load(&path)?;
                let config = file
                    .streams
                    .get_mut(&name)
                    .context("the stream just created")?;
                config.color = color;
                config.retention = retention.unwrap_or(config.retention);
                config.queue_depth = queue_depth.unwrap_or(config.queue_depth);
                config.validate(&name)?;
                file.save(&path)?;
            }
            eprintln!("stream {name:?} created; its ingest key is shown only now:");
            println!("{key}");
            Ok(())
        }
        Action::List => {
            let file = StreamsFile::load(&args.data_dir.join(STREAMS_FILE))?;
            for (name, config) in &file.streams {
                let variants: Vec<&str> = config.variants.iter().map(|v| v.name.as_str()).collect();
                println!(
                    "{name}: variants {}, colour {}, retention {}, queue depth {}",
                    variants.join(" "),
                    config.color.as_deref().unwrap_or("-"),
                    config.retention,
                    config.queue_depth
                );
            }
            Ok(())
        }
    }
}
