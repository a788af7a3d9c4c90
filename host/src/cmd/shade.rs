//! `studio-edge shade measure FRAME --region X,Y,W,H --name NAME [--ops OPS]`:
//! measures a product shade from a calibrated frame (a swatch or a model's
//! skin shot under the studio's light, colour-corrected with the colour
//! worker's ops, e.g. `profile=studio-a&wb=auto`) and prints it as the JSON
//! a drop lists in `shades`: `{"name": NAME, "lab": [L, a, b]}` (CIELAB,
//! D65, two decimals).
//!
//! The frame goes through the colour pipeline natively (colour management,
//! then the ops' camera profile, white balance, exposure and LUT, in
//! linear light), and the region's colour is the robust median the client
//! package matches with (`studio_edge_color::measure`: clipped pixels,
//! specular highlights and outliers rejected), so a measured shade and a
//! viewer's matched skin are the same kind of number.

use std::path::PathBuf;

use anyhow::{Context, bail};
use studio_edge_color::assets::{AssetDir, Assets, Sources, Uploads};
use studio_edge_color::image::LinearImage;
use studio_edge_color::imaging::Limits;
use studio_edge_color::lab::Lab;
use studio_edge_color::ops::ColorOps;
use studio_edge_color::{measure, pipeline, skin};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the shade JSON of a region of a calibrated frame.
    Measure(MeasureArgs),
}

#[derive(Debug, clap::Args)]
struct MeasureArgs {
    /// The frame (JPEG, PNG, WebP, ...).
    frame: PathBuf,
    /// The region to measure, in pixels: left, top, width, height.
    #[arg(long, value_name = "X,Y,W,H", value_parser = parse_region)]
    region: Region,
    /// The shade's name.
    #[arg(long)]
    name: String,
    /// Colour ops applied first, as the colour route's query (e.g.
    /// `profile=studio-a&wb=auto`); output options (`format`, `q`) are
    /// ignored.
    #[arg(long, value_name = "OPS", default_value = "")]
    ops: String,
    /// Directory of named assets: `luts/<name>.cube`, `profiles/<name>.json`.
    #[arg(long, value_name = "DIR", env = "COLOR_ASSETS_DIR")]
    assets: Option<PathBuf>,
}

/// A shade as drops list it (name first).
#[derive(Debug, PartialEq, serde::Serialize)]
struct Shade {
    name: String,
    lab: [f64; 3],
}

/// A pixel rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

fn parse_region(text: &str) -> Result<Region, String> {
    let numbers: Vec<u32> = text
        .split(',')
        .map(|v| v.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not X,Y,W,H (four whole numbers)"))?;
    match numbers[..] {
        [x, y, w, h] if w > 0 && h > 0 => Ok(Region { x, y, w, h }),
        [_, _, _, _] => Err("the region's width and height must be positive".into()),
        _ => Err(format!("{text:?} is not X,Y,W,H (four whole numbers)")),
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Measure(args) => {
            let (shade, measured) = measure_shade(&args)?;
            eprintln!(
                "{}: median of {} pixels ({} rejected){}",
                args.frame.display(),
                measured.used,
                measured.rejected,
                if skin::is_skin(measured.lab, &skin::SKIN_RANGE) {
                    ""
                } else {
                    "; not in the skin-tone box: is the region on the swatch?"
                }
            );
            println!("{}", serde_json::to_string(&shade)?);
            Ok(())
        }
    }
}

/// The shade and the measurement behind it.
fn measure_shade(args: &MeasureArgs) -> anyhow::Result<(Shade, measure::Measured)> {
    let bytes =
        std::fs::read(&args.frame).with_context(|| format!("reading {}", args.frame.display()))?;
    let ops = ColorOps::parse(&args.ops).context("--ops")?;
    let dir = args.assets.as_ref().map(AssetDir::new);
    let sources = Sources {
        store: None,
        dir: dir.as_ref(),
    };
    let assets = Assets::resolve(&ops, Uploads::default(), sources)?;
    let mut image = pipeline::colour_manage(&bytes, &Limits::default())?.image;
    pipeline::apply(&mut image, &ops, &assets)?;
    let pixels = region_pixels(&image, args.region)?;
    let measured = measure::robust_colour(&pixels, [1.0; 3]).with_context(|| {
        format!(
            "no usable pixels in the region of {} (all clipped, black or transparent)",
            args.frame.display()
        )
    })?;
    let Lab { l, a, b } = measured.lab;
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let shade = Shade {
        name: args.name.clone(),
        lab: [round(l), round(a), round(b)],
    };
    Ok((shade, measured))
}

/// The visible pixels of `region`, which must lie within the image.
fn region_pixels(image: &LinearImage, region: Region) -> anyhow::Result<Vec<[f32; 3]>> {
    let Region { x, y, w, h } = region;
    let (right, bottom) = (u64::from(x) + u64::from(w), u64::from(y) + u64::from(h));
    if right > u64::from(image.width) || bottom > u64::from(image.height) {
        bail!(
            "region {x},{y},{w},{h} reaches past the {}x{} frame",
            image.width,
            image.height
        );
    }
    let width = image.width as usize;
    let mut pixels = Vec::with_capacity(w as usize * h as usize);
    for row in y as usize..bottom as usize {
        for i in row * width + x as usize..row * width + right as usize {
            if image.alpha[i] > 0 {
                pixels.push(image.pixels[i]);
            }
        }
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use studio_edge_color::imaging::image::{Rgba, RgbaImage};
    use studio_edge_color::imaging::{Format, encode};
    use studio_edge_color::{lab, transfer};

    /// `studio-edge shade measure` with `rest`.
    fn parse(rest: &[&str]) -> MeasureArgs {
        let cli =
            crate::cmd::Cli::parse_from(["studio-edge", "shade", "measure"].iter().chain(rest));
        let crate::cmd::Command::Shade(Args {
            action: Action::Measure(args),
        }) = cli.command
        else {
            panic!("parsed as another subcommand");
        };
        args
    }

    #[test]
    fn regions_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_region("10, 20,30,40"),
            Ok(Region {
                x: 10,
                y: 20,
                w: 30,
                h: 40
            })
        );
        assert!(parse_region("1,2,3").unwrap_err().contains("X,Y,W,H"));
        assert!(parse_region("1,2,0,4").unwrap_err().contains("positive"));
        assert!(parse_region("a,b,c,d").is_err());
    }

    #[test]
    fn measures_a_swatch_with_highlights_and_white_balance() {
        let dir = tempfile::tempdir().unwrap();
        // A light-skin swatch (sRGB 194 150 130) on white, with specular
        // highlights on the swatch.
        let image = RgbaImage::from_fn(40, 30, |x, y| {
            let on_swatch = (10..30).contains(&x) && (5..25).contains(&y);
            match (on_swatch, (x + 3 * y) % 11 == 0) {
                (true, false) => Rgba([194, 150, 130, 255]),
                (true, true) => Rgba([252, 250, 248, 255]),
                (false, _) => Rgba([230, 230, 230, 255]),
            }
        });
        let path = dir.path().join("swatch.png");
        std::fs::write(&path, encode(&image, Format::Png, 90).unwrap()).unwrap();
        let frame = path.to_str().unwrap();
        let args = parse(&[frame, "--region", "10,5,20,20", "--name", "Light"]);
        let (shade, measured) = measure_shade(&args).unwrap();
        let expected =
            lab::linear_srgb_to_lab([194u8, 150, 130].map(|c| f64::from(transfer::decode_u8(c))));
        assert_eq!(shade.name, "Light");
        for (g, e) in shade.lab.iter().zip([expected.l, expected.a, expected.b]) {
            assert!((g - e).abs() <= 0.005, "{shade:?} vs {expected:?}");
        }
        assert_eq!(
            serde_json::to_string(&shade).unwrap(),
            format!(
                r#"{{"name":"Light","lab":[{},{},{}]}}"#,
                shade.lab[0], shade.lab[1], shade.lab[2]
            )
        );
        assert_eq!(measured.used + measured.rejected, 400);
        assert!(measured.rejected >= 30, "{measured:?}");
        // White balance on the neutral background hardly moves it.
        let args = parse(&[
            frame,
            "--region",
            "10,5,20,20",
            "--name",
            "Light",
            "--ops",
            "wb=auto",
        ]);
        let (balanced, _) = measure_shade(&args).unwrap();
        for (b, s) in balanced.lab.iter().zip(shade.lab) {
            assert!((b - s).abs() < 0.5, "{balanced:?}");
        }
        let args = parse(&[frame, "--region", "30,5,20,20", "--name", "x"]);
        assert!(
            measure_shade(&args)
                .unwrap_err()
                .to_string()
                .contains("reaches past")
        );
    }
}
