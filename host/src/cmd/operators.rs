//! `studio-edge operators create NAME [--stream S]...`: issue an operator
//! token and print it once (only its SHA-256 is stored, in
//! `<data-dir>/operators.json`); `studio-edge operators list`: who holds
//! tokens for which streams.
//!
//! An operator token is what the orders routes that manage drops and read
//! orders, and the operator console `/studio/{stream}`, ask for as
//! `Authorization: Bearer <token>`.

use std::path::PathBuf;

use anyhow::Context;
use studio_edge_ingest::operators::{OPERATORS_FILE, OperatorsFile, create_operator};

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
    /// Issue a token and print it (shown only this once).
    Create {
        /// Operator name: 1-64 of a-z, 0-9, '-', '_'.
        name: String,
        /// A stream the token covers; repeat for more [default: every stream].
        #[arg(long = "stream", value_name = "STREAM")]
        streams: Vec<String>,
    },
    /// List the operators and the streams their tokens cover, without tokens.
    List,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Create { name, streams } => {
            let covers = (!streams.is_empty()).then_some(streams);
            let token = create_operator(&args.data_dir, &name, covers)
                .with_context(|| format!("creating operator {name:?}"))?;
            eprintln!("operator {name:?} created; the token is shown only now:");
            println!("{token}");
            Ok(())
        }
        Action::List => {
            let file = OperatorsFile::load(&args.data_dir.join(OPERATORS_FILE))?;
            for (name, record) in &file.operators {
                let streams = record
                    .streams
                    .as_ref()
                    .map_or_else(|| "every stream".to_owned(), |s| s.join(", "));
                println!("{name}: {streams}");
            }
            Ok(())
        }
    }
}
